"""Settings of the soe tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "soe": {
        "contract": {},
        "resume": None,
        "not_exportable": None,
        "learning": {
            # Measured: 1.000 / 0.986.
            "blobs": {"epochs": 1, "train": {"hparams": {}}, "min_image_auroc": 0.9, "min_pixel_auroc": 0.85},
        },
    },
}

"""Settings of the padim-som tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "padim-som": {
        "contract": {},
        "resume": None,
        "not_exportable": None,
        "learning": {
            # Measured: 1.000 / 0.992.
            "blobs": {"epochs": 1, "train": {"hparams": {}}, "min_image_auroc": 0.9, "min_pixel_auroc": 0.85},
        },
    },
}

"""Settings of the spade tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "spade": {
        "contract": {"top_k": 2},
        "resume": None,
        "not_exportable": None,
        "learning": {
            # Measured: 1.000 / 0.994.
            "blobs": {
                "epochs": 1,
                "train": {"hparams": {"top_k": 5}},
                "min_image_auroc": 0.9,
                "min_pixel_auroc": 0.85,
            },
        },
    },
}

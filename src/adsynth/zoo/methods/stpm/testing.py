"""Settings of the stpm tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "stpm": {
        "contract": {},
        "resume": {},
        "not_exportable": None,
        "learning": {
            # Measured: see README.md.
            "blobs": {
                "epochs": 2,
                "train": {"hparams": {}, "log_every": 1},
                "min_image_auroc": 0.75,
                "min_pixel_auroc": 0.85,
                "loss_falls": True,
            },
        },
    },
}

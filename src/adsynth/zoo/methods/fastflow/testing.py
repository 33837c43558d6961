"""Settings of the fastflow tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "fastflow": {
        "contract": {"flow_steps": 2},
        "resume": {"flow_steps": 2},
        "not_exportable": None,
        "learning": {
            # Measured: see README.md.
            "blobs": {
                "epochs": 2,
                "train": {"hparams": {}, "log_every": 1},
                "min_image_auroc": 0.9,
                "min_pixel_auroc": 0.9,
                "loss_falls": True,
            },
        },
    },
}

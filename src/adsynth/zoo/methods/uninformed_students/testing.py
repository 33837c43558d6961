"""Settings of the uninformed-students tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "uninformed-students": {
        "contract": {"n_students": 2, "width": 8, "depth": 1},
        "resume": {"n_students": 2, "width": 4, "depth": 1},
        "not_exportable": None,
        "learning": {
            "blobs": {
                "epochs": 4,
                "train": {
                    "hparams": {"width": 32, "cache_features": True},
                    "log_every": 1,
                    "lr": 1e-3,
                    "batch_size": 8,
                },
                "min_image_auroc": 0.9,
                "min_pixel_auroc": 0.9,
                "loss_falls": True,
            },
        },
    },
}

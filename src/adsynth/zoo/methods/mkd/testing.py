"""Settings of the mkd tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "mkd": {
        "contract": {"width": 8},
        "resume": {"width": 4},
        "not_exportable": "its map is a gradient of the loss (backward pass)",
        "learning": {
            # Measured (1 thread): 0.992 / 0.715 in 18 s (4 epochs: 0.805 / 0.524, its gradient maps sharpen
            # late).
            "blobs": {
                "epochs": 10,
                "train": {"hparams": {"cache_features": True}, "log_every": 1, "lr": 1e-3, "batch_size": 8},
                "min_image_auroc": 0.85,
                "min_pixel_auroc": 0.6,
                "loss_falls": True,
            },
        },
    },
}

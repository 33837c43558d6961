"""Settings of the favae tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "favae": {
        "contract": {"width": 8, "latent_dim": 16},
        "resume": {"width": 4, "latent_dim": 4},
        "not_exportable": None,
        "learning": {
            # Measured (1 thread): 0.996 / 0.989 in 12 s.
            "blobs": {
                "epochs": 4,
                "train": {
                    "hparams": {"cache_features": True, "width": 16, "latent_dim": 32},
                    "log_every": 1,
                    "lr": 5e-3,
                    "batch_size": 8,
                },
                "min_image_auroc": 0.9,
                "min_pixel_auroc": 0.9,
                "loss_falls": True,
            },
        },
    },
}

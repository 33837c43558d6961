"""Settings of the vt-adl tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "vt-adl": {
        "contract": {"dim": 16, "depth": 1, "heads": 2, "latent_dim": 4, "components": 2},
        "resume": {"dim": 8, "depth": 1, "heads": 2, "latent_dim": 2, "components": 2},
        "not_exportable": None,
        "learning": {
            # Measured 0.969 / 0.955 (3 epochs, 8 s).
            "blobs": {
                "epochs": 3,
                "train": {"hparams": {"dim": 32, "depth": 1, "heads": 4, "latent_dim": 8, "components": 4}},
                "min_image_auroc": 0.8,
                "min_pixel_auroc": 0.75,
            },
        },
    },
}

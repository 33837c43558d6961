"""Settings of the fanogan tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "fanogan": {
        "contract": {"width": 8, "latent_dim": 16},
        "resume": {"width": 2, "latent_dim": 4, "max_width": 8, "n_critic": 2, "gan_fraction": 0.5},
        "not_exportable": None,
        "learning": {
            # 20 epochs: 12 WGAN-GP, 8 encoder. Measured 0.71 / 0.79: a WGAN trained for 72 critic steps only
            # roughly covers the textures, so the margin is small but clear of chance.
            "blobs": {
                "epochs": 20,
                "train": {"lr": 1e-4, "hparams": {"width": 16, "latent_dim": 32}},
                "min_image_auroc": 0.6,
                "min_pixel_auroc": 0.65,
            },
        },
    },
}

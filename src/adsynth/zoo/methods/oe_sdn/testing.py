"""Settings of the oe-sdn tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "oe-sdn": {
        "contract": {"latent_dim": 8, "student_width": 4, "student_depth": 2},
        "resume": {"latent_dim": 2, "student_width": 2, "student_depth": 1},
        "not_exportable": None,
        "learning": {
            # The default recipe (draem, procedural textures) as outlier exposure. Measured: image 1.000,
            # pixel 0.999 (10 epochs, about 40 s).
            "blobs": {
                "epochs": 10,
                "train": {"lr": 1e-3, "hparams": {"latent_dim": 32, "student_width": 8}},
                "min_image_auroc": 0.75,
                "min_pixel_auroc": 0.85,
            },
        },
    },
}

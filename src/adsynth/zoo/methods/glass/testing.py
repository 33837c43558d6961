"""Settings of the glass tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "glass": {
        "contract": {"hidden": 16, "ascent_steps": 2},
        # LAS from the default draem recipe; two ascent steps, projected after each.
        "resume": {"hidden": 8, "ascent_steps": 2, "project_every": 1},
        "not_exportable": None,
        "learning": {
            # Measured 0.863 / 0.903 (4 epochs, 26 s on a loaded 2-core machine).
            "manifold": {
                "epochs": 4,
                "train": {"hparams": {"hidden": 64, "distribution": "manifold", "noise_std": 0.25}},
                "min_image_auroc": 0.75,
                "min_pixel_auroc": 0.75,
            },
            # Measured 0.953 / 0.932 (4 epochs, 13 s; sigma = 0.25).
            "hypersphere": {
                "epochs": 4,
                "train": {"hparams": {"hidden": 64, "noise_std": 0.25}},
                "min_image_auroc": 0.75,
                "min_pixel_auroc": 0.75,
            },
        },
    },
}

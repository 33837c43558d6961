"""Settings of the mlf-sc tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "mlf-sc": {
        "contract": {"n_atoms": 16, "iterations": 2},
        "resume": None,
        "not_exportable": "sparse coding solves a linear system per patch (linalg_solve)",
        "learning": {
            # Measured: 1.000 / 0.989.
            "blobs": {
                "epochs": 1,
                "train": {"hparams": {"n_atoms": 64, "iterations": 5}},
                "min_image_auroc": 0.85,
                "min_pixel_auroc": 0.8,
            },
        },
    },
}

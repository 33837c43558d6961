"""Settings of the deep-svdd tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "deep-svdd": {
        "contract": {"widths": (4, 8), "rep_dim": 8},
        "resume": {"widths": (2, 2), "rep_dim": 4},
        "not_exportable": None,
        "learning": {
            "blobs": {
                "epochs": 6,
                "train": {"lr": 1e-3, "hparams": {"widths": [8, 16, 32], "rep_dim": 32}},
                "min_image_auroc": 0.7,
                "min_pixel_auroc": 0.7,
            },
        },
    },
}

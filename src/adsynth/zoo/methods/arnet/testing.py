"""Settings of the arnet tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "arnet": {
        "contract": {"base_width": 4, "depth": 2},
        "resume": {"base_width": 2, "depth": 2},
        "not_exportable": None,
        "learning": {
            # Measured: 0.953 / 0.989, 41 s (score='mean', the paper's image score: 0.777 / 0.989).
            "blobs": {
                "epochs": 10,
                "train": {"lr": 1e-3, "hparams": {"base_width": 8}},
                "min_image_auroc": 0.8,
                "min_pixel_auroc": 0.9,
            },
        },
    },
}

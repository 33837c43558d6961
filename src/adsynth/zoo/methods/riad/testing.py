"""Settings of the riad tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "riad": {
        "contract": {"base_width": 8},
        "resume": {"base_width": 2, "k_values": (2, 4), "n_masks": 2},
        "not_exportable": "NumPy in the prediction path (mask schedule)",
        "learning": {
            # Measured (seeds 0, 1, 2): image 0.910 / 0.914 / 0.883, pixel 0.99, map ratio 0.31 / 0.28 / 0.28,
            # 35-60 s (untrained image AUROC 0.93).
            "blobs": {
                "epochs": 20,
                "train": {"lr": 1e-3, "hparams": {"base_width": 8}},
                "min_image_auroc": 0.8,
                "max_map_ratio": 0.5,
            },
        },
    },
}

"""Settings of the scadn tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "scadn": {
        "contract": {"base_width": 8, "blocks": 2, "disc_width": 8},
        "resume": {"base_width": 2, "blocks": 1, "disc_width": 2},
        "not_exportable": "Python round() on a tensor in the prediction path",
        "learning": {
            # Measured (seeds 0, 1, 2): image 0.973 / 0.949 / 0.977, pixel 0.98-0.99, map ratio 0.17 / 0.23 /
            # 0.12, 9 s (untrained 0.81 / 0.89 / 0.57).
            "blobs": {
                "epochs": 20,
                "train": {"lr": 1e-3, "hparams": {"base_width": 8, "blocks": 2, "disc_width": 8}},
                "min_image_auroc": 0.9,
                "max_map_ratio": 0.4,
            },
        },
    },
}

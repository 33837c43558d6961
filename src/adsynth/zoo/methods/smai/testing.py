"""Settings of the smai tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "smai": {
        "contract": {"base_width": 8},
        "resume": {"base_width": 2, "n_segments": 4, "slic_size": 8},
        "not_exportable": None,
        "learning": {
            # The superpixel recipe. Measured (seeds 0, 1, 2): image 0.996 / 0.980 / 0.953, pixel 0.99, map
            # ratio 0.26 / 0.33 / 0.54, 12 s (untrained 0.55 / 0.85 / 0.76).
            "blobs": {
                "epochs": 15,
                "train": {"lr": 1e-3, "hparams": {"base_width": 8}},
                "min_image_auroc": 0.9,
                "max_map_ratio": 0.75,
            },
        },
    },
}

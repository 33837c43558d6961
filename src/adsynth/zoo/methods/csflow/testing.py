"""Settings of the csflow tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "csflow": {
        "contract": {"coupling_blocks": 2, "hidden": 16, "kernel_sizes": [3, 5]},
        "resume": {"coupling_blocks": 2, "hidden": 8, "kernel_sizes": [3, 3]},
        "not_exportable": None,
        "learning": {
            # 12 steps left its image AUROC at 0.65-0.70 (pixel 0.98); 48 steps (6 epochs of 8) reach 1.0 in a
            # direct loop.
            "blobs": {
                "epochs": 6,
                "train": {
                    "hparams": {"hidden": 32, "cache_features": True},
                    "log_every": 1,
                    "lr": 1e-3,
                    "batch_size": 6,
                },
                "min_image_auroc": 0.9,
                "min_pixel_auroc": 0.9,
                "loss_falls": True,
            },
        },
    },
}

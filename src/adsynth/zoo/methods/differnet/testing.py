"""Settings of the differnet tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "differnet": {
        "contract": {"coupling_blocks": 2, "hidden": 32, "test_transforms": 2},
        "resume": {"coupling_blocks": 2, "hidden": 16, "test_transforms": 1},
        "not_exportable": "its map is a gradient of the likelihood (backward pass)",
        "learning": {
            # Measured: see README.md.
            "blobs": {
                "epochs": 2,
                "train": {"hparams": {"hidden": 256, "test_transforms": 1}, "log_every": 1},
                "min_image_auroc": 0.75,
                "min_pixel_auroc": 0.6,
                "loss_falls": True,
            },
        },
    },
}

"""Settings of the simclr tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "simclr": {
        "contract": {"proj_dim": 16, "bank_size": 256},
        "resume": {"backbone": "mobilenetv3_small_050", "proj_dim": 4, "bank_size": 32},
        "not_exportable": None,
        "learning": {
            # One epoch of SSL adaptation from the bundled ImageNet trunk, then the model's own kNN map.
            "blobs": {
                "epochs": 1,
                "train": {"hparams": {"bank_size": 4096, "pretrained": True}},
                "min_image_auroc": 0.85,
                "min_pixel_auroc": 0.9,
            },
        },
    },
}

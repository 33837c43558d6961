"""Settings of the patch-svdd tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "patch-svdd": {
        "contract": {"dim": 8, "bank_size": 256},
        "resume": {"dim": 4, "bank_size": 32},
        "not_exportable": None,
        "learning": {
            "blobs": {
                "epochs": 1,
                "train": {"lr": 1e-3, "hparams": {"bank_size": 4096}},
                "min_image_auroc": 0.85,
                "min_pixel_auroc": 0.85,
            },
        },
    },
}

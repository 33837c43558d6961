"""Settings of the fcdd tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "fcdd": {
        "contract": {"width": 8},
        "resume": {"backbone": "mobilenetv3_small_050", "pretrained": False, "width": 2},
        "not_exportable": None,
        "learning": {
            # Bundled ImageNet trunk (the paper's setting), synthetic noise regions as outlier exposure.
            "blobs": {
                "epochs": 2,
                "train": {"lr": 1e-2, "hparams": {"width": 16, "score": "max"}},
                "min_image_auroc": 0.8,
                "min_pixel_auroc": 0.8,
            },
        },
    },
}

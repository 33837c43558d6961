"""Settings of the a-contrario tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "a-contrario": {
        "contract": {},
        "resume": None,
        "not_exportable": "its NFA map does not trace into a graph that runs in ONNX Runtime",
        "learning": {
            # Measured: 1.000 / 0.867 (0.857 without the dispersion correction).
            "blobs": {
                "epochs": 1,
                "train": {"hparams": {}},
                "min_image_auroc": 0.85,
                "min_pixel_auroc": 0.75,
            },
        },
    },
}

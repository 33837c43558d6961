"""Settings of the fyd tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "fyd": {
        "contract": {},
        "resume": None,
        "not_exportable": "phase-correlation alignment uses rfft2 (no ONNX operator)",
        "learning": {
            # Measured 1.000 / 0.984 (7 s).
            "blobs": {"epochs": 1, "train": {"hparams": {}}, "min_image_auroc": 0.85, "min_pixel_auroc": 0.8},
        },
    },
}

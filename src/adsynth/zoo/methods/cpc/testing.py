"""Settings of the cpc tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "cpc": {
        "contract": {"patch_size": 16, "widths": [4, 8], "dim": 8, "negatives": 32, "bank_size": 64},
        "resume": {"patch_size": 8, "widths": [4], "dim": 4, "steps": 2, "negatives": 8, "bank_size": 32},
        "not_exportable": "col2im (overlapping-patch fold): no operator at opset 17; at 18 the tracer fails",
        "learning": {
            # 8 px patches (a 15x15 grid at 64 px), negatives from the batch, test negatives from the bank.
            # Measured: image 1.000, pixel 0.988.
            "blobs": {
                "epochs": 20,
                "train": {
                    "lr": 1e-3,
                    "hparams": {
                        "patch_size": 8,
                        "widths": [16, 32],
                        "dim": 32,
                        "bank_size": 4096,
                        "score": "max",
                    },
                },
                "min_image_auroc": 0.85,
                "min_pixel_auroc": 0.85,
            },
        },
    },
}

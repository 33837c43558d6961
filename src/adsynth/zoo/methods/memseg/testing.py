"""Settings of the memseg tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "memseg": {
        "contract": {"widths": [8, 8, 8], "head_width": 4, "memory_size": 2, "top_k": 4},
        "resume": {"widths": [4, 4, 4], "head_width": 2, "memory_size": 2, "top_k": 4},
        "not_exportable": None,
        "learning": {
            # Trains its decoder on the memseg recipe's synthetic anomalies (no blob is ever shown). Measured
            # 0.863 / 0.771 (5 epochs, ~20 s on one thread, most of it the synthesis); re-measured 0.840 /
            # 0.750 on 2026-12-02 (the same with the code before normal_fraction was added).
            "blobs": {
                "epochs": 5,
                "train": {
                    "hparams": {"widths": [16, 32, 64], "head_width": 8, "memory_size": 8, "top_k": 20}
                },
                "min_image_auroc": 0.75,
                "min_pixel_auroc": 0.65,
            },
        },
    },
}

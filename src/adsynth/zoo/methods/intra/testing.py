"""Settings of the intra tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "intra": {
        "contract": {"dim": 32, "depth": 2, "heads": 4},
        "resume": {"patch_size": 4, "window": 4, "dim": 8, "depth": 1, "heads": 2, "windows_per_image": 2},
        "not_exportable": "its patch unfolding (F.unfold) needs input sizes the ONNX tracer cannot see",
        "learning": {
            # 3x3 windows of 4 px patches. Measured (seeds 0, 1, 2): image 0.852 / 0.867 / 0.949, pixel
            # 0.97-0.98, map ratio 0.29 / 0.37 / 0.35, 28 s (untrained 0.92 / 0.90 / 0.94). With the former
            # loss weights (MSGMS and SSIM at 1 instead of 0.01) and the default 7x7 windows, 10 epochs left
            # the transformer at the mean patch (image AUROC 0.91, as untrained; mean normal score x1.07).
            "blobs": {
                "epochs": 80,
                "train": {"lr": 1e-3, "hparams": {"dim": 64, "depth": 2, "heads": 4, "window": 3}},
                "min_image_auroc": 0.75,
                "max_map_ratio": 0.55,
            },
        },
    },
}

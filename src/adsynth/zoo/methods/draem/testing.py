"""Settings of the draem tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "draem": {
        "contract": {"base_width": 8},
        "resume": {"base_width": 2},
        "not_exportable": None,
        "learning": {
            # A DRAEM whose discriminative network has not learnt to segment is at chance (a 10-epoch, 60-step
            # run measured 0.36-0.50), so >= 0.7 shows that it learnt from the online synthetic anomalies (the
            # draem recipe's Perlin/texture defects), which differ from the painted test defects. Measured:
            # 1.0.
            "blobs": {
                "epochs": 25,
                "train": {"lr": 1e-3, "recipe": "draem", "hparams": {"base_width": 8}},
                "min_image_auroc": 0.7,
            },
        },
    },
}

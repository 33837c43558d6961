"""Settings of the draem-sspcab tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "draem-sspcab": {
        "contract": {},
        "resume": {"base_width": 2},
        "not_exportable": None,
        "learning": {
            # A DRAEM whose discriminative network has not learnt to segment is at chance (0.36-0.50 measured
            # for DRAEM), so >= 0.7 shows it learnt from the online draem anomalies, which differ from the
            # painted test defects. Measured 0.85 after 15 epochs (1.00 in a later run with one thread).
            # Without DRAEM's 30 % rotation of the training image: within 15 epochs on 48 crops the rotated
            # black-cornered targets cost the tiny model its image score (measured 0.395 with, 0.848 without).
            "blobs": {
                "epochs": 15,
                "train": {"lr": 1e-3, "recipe": "draem", "hparams": {"base_width": 8, "rotate_prob": 0.0}},
                "min_image_auroc": 0.7,
            },
        },
    },
}

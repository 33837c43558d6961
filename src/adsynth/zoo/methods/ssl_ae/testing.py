"""Settings of the ssl-ae tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "ssl-ae": {
        "contract": {},
        "resume": {"base_width": 2},
        "not_exportable": None,
        "learning": {
            # Trained on the mixed recipe (cut-paste, scars, textures, noise, erasures, superpixels), never on
            # blobs. Measured 0.92 after 12 epochs.
            "blobs": {
                "epochs": 12,
                "train": {"lr": 1e-3, "hparams": {"base_width": 8}},
                "min_image_auroc": 0.8,
            },
        },
    },
}

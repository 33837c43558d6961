"""Settings of the mnad tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "mnad": {
        "contract": {},
        "resume": {"base_width": 2, "memory_size": 2, "memory_dim": 8},
        "not_exportable": None,
        "learning": {
            # As for memae: the memory read-out still lets the decoder learn the texture. Measured 0.88.
            "blobs": {
                "epochs": 20,
                "train": {"lr": 1e-3, "hparams": {"base_width": 8, "memory_dim": 64}},
                "min_image_auroc": 0.75,
            },
        },
    },
}

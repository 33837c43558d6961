"""Settings of the memae tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "memae": {
        "contract": {},
        "resume": {"base_width": 2, "feature_dim": 8, "memory_size": 8},
        "not_exportable": None,
        "learning": {
            # An untrained autoencoder scores blobs near chance, a trained one reconstructs the brick texture
            # but not the blob: the memory read-out still lets the decoder learn the texture. Measured
            # 0.81-0.92 (3 seeds).
            "blobs": {
                "epochs": 30,
                "train": {"lr": 1e-3, "hparams": {"base_width": 16, "feature_dim": 64}},
                "min_image_auroc": 0.75,
            },
        },
    },
}

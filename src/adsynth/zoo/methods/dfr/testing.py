"""Settings of the dfr tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "dfr": {
        "contract": {"epochs": 2},
        "resume": None,
        "not_exportable": None,
        "learning": {
            # Measured: 0.957 / 0.982.
            "blobs": {
                "epochs": 1,
                "train": {
                    "hparams": {"epochs": 20, "samples_per_image": 64, "lr": 1e-3, "batch_regions": 512}
                },
                "min_image_auroc": 0.85,
                "min_pixel_auroc": 0.8,
            },
        },
    },
}

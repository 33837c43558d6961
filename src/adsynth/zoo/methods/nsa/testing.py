"""Settings of the nsa tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "nsa": {
        "contract": {"base_width": 4, "depth": 2},
        "resume": {"base_width": 2, "depth": 2},
        "not_exportable": None,
        "learning": {
            # Learns from its Poisson-blended patches.
            "blobs": {
                "epochs": 10,
                "train": {"hparams": {"base_width": 8, "depth": 3}},
                "min_image_auroc": 0.8,
                "min_pixel_auroc": 0.8,
            },
        },
    },
}

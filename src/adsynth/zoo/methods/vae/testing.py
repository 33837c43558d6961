"""Settings of the vae tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "vae": {
        "contract": {"latent_dim": 16},
        "resume": {"latent_dim": 4},
        "not_exportable": None,
        "learning": {
            # As for ae: the thresholds check the pipeline end to end and that the maps light up on the
            # defect.
            "blobs": {"epochs": 20, "train": {"lr": 1e-3}, "min_image_auroc": 0.8, "min_pixel_auroc": 0.8},
        },
    },
}

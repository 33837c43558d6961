"""Settings of the ae tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "ae": {
        "contract": {"latent_dim": 16},
        "resume": {"latent_dim": 4},
        "not_exportable": None,
        "learning": {
            # Even a barely trained autoencoder (one that reconstructs a blurred mean crop) separates these
            # blobs, so the image AUROC checks the pipeline end to end (maps, scores, file order) more than
            # the method; the pixel AUROC checks that the maps light up on the defect.
            "blobs": {"epochs": 20, "train": {"lr": 1e-3}, "min_image_auroc": 0.8, "min_pixel_auroc": 0.8},
        },
    },
}

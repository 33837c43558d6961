"""Settings of the loss-profile tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "loss-profile": {
        "contract": {"widths": [4, 8], "latent": 4, "snapshots": 2},
        # Two snapshots in two epochs: the first is taken at the start of the resumed epoch.
        "resume": {"widths": [2, 4], "latent": 2, "snapshots": 2},
        "not_exportable": "replays K weight snapshots with torch.func.functional_call",
        "learning": {
            # Five snapshots in ten epochs (after epochs 2, 4, 6, 8 and the final model), a Gaussian per cell.
            # Measured: image 0.887, pixel 0.972.
            "blobs": {
                "epochs": 10,
                "train": {"hparams": {"widths": [16, 32, 64], "latent": 8, "snapshots": 5}},
                "min_image_auroc": 0.75,
                "min_pixel_auroc": 0.9,
            },
        },
    },
}

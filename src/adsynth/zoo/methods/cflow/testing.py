"""Settings of the cflow tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "cflow": {
        "contract": {"coupling_blocks": 2, "condition_dim": 16, "fibers_per_step": 64},
        "resume": {"coupling_blocks": 2, "condition_dim": 8, "fibers_per_step": 16},
        "not_exportable": None,
        "learning": {
            # Measured: see README.md.
            "blobs": {
                "epochs": 2,
                "train": {"hparams": {"fibers_per_step": 256}, "log_every": 1},
                "min_image_auroc": 0.75,
                "min_pixel_auroc": 0.6,
                "loss_falls": True,
            },
        },
    },
}

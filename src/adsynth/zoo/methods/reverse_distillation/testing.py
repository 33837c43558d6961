"""Settings of the reverse-distillation tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "reverse-distillation": {
        "contract": {"embed_dim": 32, "bottleneck_blocks": 1, "decoder_widths": [32, 16, 16]},
        # Bundled Lite0 at 32 px (levels 1-3: 8, 4, 2 positions a side), small trainable parts.
        "resume": {"embed_dim": 8, "bottleneck_blocks": 1, "decoder_widths": [8, 8, 8]},
        "not_exportable": None,
        "learning": {
            # Measured: see README.md.
            "blobs": {
                "epochs": 2,
                "train": {"hparams": {}, "log_every": 1},
                "min_image_auroc": 0.9,
                "min_pixel_auroc": 0.9,
                "loss_falls": True,
            },
        },
    },
}

"""Settings of the gradcon tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "gradcon": {
        "contract": {"widths": [4, 4, 8]},
        "resume": {"widths": [2, 2]},
        "not_exportable": "its score needs per-sample gradients (torch.func)",
        "learning": {
            # Measured: image 0.898, pixel 0.991 (20 epochs, about 12 s). The constraint aligns the gradients
            # with their mean: the logged grad_loss is negative.
            "blobs": {
                "epochs": 20,
                "train": {"hparams": {"widths": [16, 16, 32, 32]}},
                "min_image_auroc": 0.75,
                "min_pixel_auroc": 0.85,
                "metrics_below": {"grad_loss": 0.0},
            },
        },
    },
}

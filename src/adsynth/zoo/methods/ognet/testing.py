"""Settings of the ognet tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "ognet": {
        "contract": {"width": 4},
        "resume": {"width": 2, "phase_two_start": 0.5},
        "not_exportable": None,
        "learning": {
            # 10 epochs, fine-tuning from epoch 8. D's image score is at chance after such a run (measured
            # 0.46); asserted are G's residual map (measured pixel AUROC 0.97) and the phase-two losses.
            "blobs": {
                "epochs": 10,
                "train": {"lr": 1e-3, "hparams": {"width": 8, "strided": True}},
                "min_pixel_auroc": 0.8,
                "logged": ["ft_pseudo", "ft_old", "ft_good", "ft_real"],
            },
        },
    },
}

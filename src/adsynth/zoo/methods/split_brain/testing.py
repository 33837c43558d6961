"""Settings of the split-brain tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "split-brain": {
        "contract": {"base_width": 4, "depth": 2},
        "resume": {"base_width": 2, "depth": 2},
        "not_exportable": None,
        "learning": {
            # Gray: the checkerboard split of 4 px squares. Measured 0.820 / 0.987, 43 s.
            "blobs": {
                "epochs": 10,
                "train": {"lr": 1e-3, "hparams": {"base_width": 8}},
                "min_image_auroc": 0.7,
                "min_pixel_auroc": 0.9,
            },
            # Colour: the Lab split. Measured 0.992 / 0.996, 29 CPU s. With 10 epochs at lr 1e-3 and a red <->
            # blue swap as the defect (invisible near grey level 142, the swap's fixed point) it reached only
            # 0.617 / 0.630.
            "colour": {
                "epochs": 20,
                "train": {"lr": 2e-3, "hparams": {"base_width": 8}},
                "min_image_auroc": 0.8,
                "min_pixel_auroc": 0.9,
                "task": "colour",
            },
        },
    },
}

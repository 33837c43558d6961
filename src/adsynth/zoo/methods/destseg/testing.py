"""Settings of the destseg tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "destseg": {
        "contract": {"student_width": 4, "student_blocks": 1, "seg_width": 8, "top_k": 4},
        # Student in epoch 1, segmentation head in epoch 2: the resumed epoch is the second phase.
        "resume": {
            "student_width": 2,
            "student_blocks": 1,
            "seg_width": 4,
            "top_k": 4,
            "student_fraction": 0.5,
        },
        "not_exportable": None,
        "learning": {
            # 20 epochs (4 student, 16 segmentation), the default draem recipe (no blob is ever shown).
            # Measured 0.945 / 0.950 (7 s on one thread).
            "segmentation": {
                "epochs": 20,
                "train": {
                    "hparams": {"student_width": 8, "seg_width": 16, "top_k": 20, "output": "segmentation"}
                },
                "min_image_auroc": 0.8,
                "min_pixel_auroc": 0.8,
            },
            # With a memory of 256 normal positions per level read by the head (adsynth's option).
            # Measured 1.000 / 0.987 (26 s on the loaded machine).
            "segmentation-memory": {
                "epochs": 20,
                "train": {
                    "hparams": {
                        "student_width": 8,
                        "seg_width": 16,
                        "top_k": 20,
                        "output": "segmentation",
                        "memory": 256,
                    }
                },
                "min_image_auroc": 0.8,
                "min_pixel_auroc": 0.8,
            },
            # The student alone (the paper's DeST map): measured 1.000 / 0.997 (7 s).
            "student": {
                "epochs": 20,
                "train": {"hparams": {"student_width": 8, "seg_width": 16, "top_k": 20, "output": "student"}},
                "min_image_auroc": 0.85,
                "min_pixel_auroc": 0.85,
            },
        },
    },
}

"""Settings of the cutpaste, cutpaste-imagenet tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "cutpaste": {
        "contract": {},
        "resume": {"backbone": "mobilenetv3_small_050", "pretrained": False, "patch_size": 16},
        "not_exportable": "float64 Gaussian density: ONNX Runtime has no float64 Conv",
        # Learns in tests/zoo/test_learning_embedding.py: its pretext task in a direct loop, from scratch.
        "learning": None,
    },
    "cutpaste-imagenet": {
        "contract": {},
        # Bundled ImageNet weights: frozen for 3 steps, so the freeze ends inside the resumed epoch.
        "resume": {"patch_size": 16, "freeze_steps": 3},
        "not_exportable": "float64 Gaussian density: ONNX Runtime has no float64 Conv",
        # The cutpaste network from bundled ImageNet weights: cutpaste's test covers its training.
        "learning": None,
    },
}

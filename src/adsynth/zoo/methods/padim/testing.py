"""Settings of the padim tests (plain data, read by ``adsynth.zoo.testing``)."""

SETTINGS = {
    "padim": {
        "contract": {},
        "resume": None,
        "not_exportable": None,
        # Learns in tests/zoo/test_learning_embedding.py: fitted directly on random-init ResNet-18 features.
        "learning": None,
    },
}

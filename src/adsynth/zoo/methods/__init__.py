"""The method folders of the zoo: one sub-package per method, found by :func:`adsynth.zoo.load_models`.

Every sub-package here registers at least one model and holds its ``model.py``, ``testing.py`` (the
settings of its tests) and ``README.md``; ``tests/zoo/test_discovery.py`` checks it. Nothing else lives
here: shared parts are in :mod:`adsynth.zoo.components`, the trainer in :mod:`adsynth.zoo.training`, and
prediction, inference, tiling and export in :mod:`adsynth.zoo.deploy`. Adding a method is adding a folder.
"""

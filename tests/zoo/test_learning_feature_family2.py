"""More of the feature-embedding family (MemSeg, FYD, VT-ADL) learns the blob task.

Each method is trained through the trainer on the shared blob task (48 brick crops, 64 px, gray; 16
normal and 16 blob test crops, ``zoo_helpers.blob_task``) on the bundled ImageNet EfficientNet-Lite0
(offline), predicted through ``predict_dataset`` and scored with scikit-learn. Thresholds are well above
chance (0.5) and below the measured figures, which are given per method.
"""

from __future__ import annotations

import pytest
from zoo_helpers import blob_task, train_and_score

from adsynth.zoo import load_models
from adsynth.zoo.base import MODELS

load_models()

#: per method: epochs, small CPU settings, asserted minimum image AUROC, pixel AUROC. Measured (image /
#: pixel): see the comments.
CASES = {
    # memseg trains its decoder on the memseg recipe's synthetic anomalies (no blob is ever shown).
    # measured 0.863 / 0.771 (5 epochs, ~20 s on one thread, most of it the synthesis); re-measured
    # 0.840 / 0.750 on 2026-12-02 (the same with the code before normal_fraction was added).
    "memseg": (5, {"widths": [16, 32, 64], "head_width": 8, "memory_size": 8, "top_k": 20}, 0.75, 0.65),
    # measured 1.000 / 0.984 (7 s).
    "fyd": (1, {}, 0.85, 0.8),
    # measured 0.969 / 0.955 (3 epochs, 8 s).
    "vt-adl": (3, {"dim": 32, "depth": 1, "heads": 4, "latent_dim": 8, "components": 4}, 0.8, 0.75),
}


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return blob_task(tmp_path_factory.mktemp("blobs") / "blobs.h5")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in CASES if n in MODELS])
def test_feature_method_detects_blobs_2(name, task, tmp_path):
    epochs, hparams, min_image, min_pixel = CASES[name]
    r = train_and_score(task, tmp_path, name, epochs=epochs, hparams=hparams)
    assert r["image_auroc"] >= min_image, r["image_auroc"]
    assert r["pixel_auroc"] >= min_pixel, r["pixel_auroc"]

"""The feature-embedding family (SPADE, SOE, DFR, PaDiM-SOM, MLF-SC, a-contrario) learns the blob task.

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

#: per method: small CPU settings, asserted minimum image AUROC, pixel AUROC. Measured (image / pixel):
#: spade 1.000 / 0.994, soe 1.000 / 0.986, dfr 0.957 / 0.982, padim-som 1.000 / 0.992,
#: mlf-sc 1.000 / 0.989, a-contrario 1.000 / 0.867 (0.857 without the dispersion correction); the six
#: together 48 CPU s on one thread.
CASES = {
    "spade": ({"top_k": 5}, 0.9, 0.85),
    "soe": ({}, 0.9, 0.85),
    "dfr": ({"epochs": 20, "samples_per_image": 64, "lr": 1e-3, "batch_regions": 512}, 0.85, 0.8),
    "padim-som": ({}, 0.9, 0.85),
    "mlf-sc": ({"n_atoms": 64, "iterations": 5}, 0.85, 0.8),
    "a-contrario": ({}, 0.85, 0.75),
}


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return blob_task(tmp_path_factory.mktemp("blobs") / "blobs.h5")


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in CASES if n in MODELS])
def test_feature_method_detects_blobs(name, task, tmp_path):
    hparams, min_image, min_pixel = CASES[name]
    r = train_and_score(task, tmp_path, name, epochs=1, hparams=hparams)
    assert r["image_auroc"] >= min_image, r["image_auroc"]
    assert r["pixel_auroc"] >= min_pixel, r["pixel_auroc"]

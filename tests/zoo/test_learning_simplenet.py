"""SimpleNet and SuperSimpleNet learn the blob task from feature-space synthetic anomalies only.

Each is trained through the trainer on the shared blob task (48 brick crops, 64 px, gray; 16 normal and 16
blob test crops, ``zoo_helpers.blob_task``) on the bundled ImageNet EfficientNet-Lite0 (offline); no blob
is ever shown: the anomalies are Gaussian noise on the frozen features (SuperSimpleNet: inside Perlin
masks). Thresholds are well above chance (0.5) and below the measured figures given per method.
"""

from __future__ import annotations

import pytest
from zoo_helpers import blob_task, train_and_score

from adsynth.zoo import load_models

load_models()

#: per method: epochs, small CPU settings, asserted minimum image AUROC, pixel AUROC.
CASES = {
    # measured 0.961 / 0.900 (6 epochs, 2 s). With the default σ = 0.25 the map comes out inverted on
    # this task (0.664 / 0.184): the blobs lie far beyond the noise shell, where the discriminator
    # extrapolates freely; σ = 1 covers them.
    "simplenet": (6, {"hidden": 256, "noise_std": 1.0}, 0.8, 0.75),
    # measured 0.898 / 0.921 (20 epochs, 4 s); after 6 epochs the classification head is still
    # inverted (0.188 / 0.773).
    "supersimplenet": (20, {"hidden": 64, "cls_width": 16, "noise_std": 1.0}, 0.75, 0.8),
}


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return blob_task(tmp_path_factory.mktemp("blobs") / "blobs.h5")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_feature_noise_teaches_blobs(name, task, tmp_path):
    epochs, hparams, min_image, min_pixel = CASES[name]
    r = train_and_score(task, tmp_path, name, epochs=epochs, hparams=hparams, lr=1e-3)
    assert r["image_auroc"] >= min_image, r["image_auroc"]
    assert r["pixel_auroc"] >= min_pixel, r["pixel_auroc"]

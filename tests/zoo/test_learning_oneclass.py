"""The one-class, self-supervised proxy-task and contrastive methods learn the small blob task on CPU.

The task (``zoo_helpers.blob_task``): 48 brick crops for training, 16 normal and 16 crops with a noisy
ellipse ±50 grey levels from the crop's mean for testing, 64 px gray. Every run is a few epochs through
the real trainer and ``predict_dataset``; thresholds are well above chance (0.5) and below what each run
measured, so that they hold across platforms.
"""

from __future__ import annotations

import pytest
from zoo_helpers import blob_task, train_and_score

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return blob_task(tmp_path_factory.mktemp("blobs") / "blobs.h5")


def test_fcdd_learns_blobs_with_noise_outlier_exposure(task, tmp_path):
    # Bundled ImageNet trunk (the paper's setting), synthetic noise regions as outlier exposure.
    r = train_and_score(task, tmp_path, "fcdd", epochs=2, lr=1e-2, hparams={"width": 16, "score": "max"})
    assert r["image_auroc"] >= 0.8
    assert r["pixel_auroc"] >= 0.8


def test_nsa_learns_blobs_from_poisson_patches(task, tmp_path):
    r = train_and_score(task, tmp_path, "nsa", epochs=10, hparams={"base_width": 8, "depth": 3})
    assert r["image_auroc"] >= 0.8
    assert r["pixel_auroc"] >= 0.8


def test_deep_svdd_learns_blobs(task, tmp_path):
    r = train_and_score(
        task, tmp_path, "deep-svdd", epochs=6, lr=1e-3, hparams={"widths": [8, 16, 32], "rep_dim": 32}
    )
    assert r["image_auroc"] >= 0.7
    assert r["pixel_auroc"] >= 0.7


def test_patch_svdd_learns_blobs(task, tmp_path):
    r = train_and_score(task, tmp_path, "patch-svdd", epochs=1, lr=1e-3, hparams={"bank_size": 4096})
    assert r["image_auroc"] >= 0.85
    assert r["pixel_auroc"] >= 0.85


@pytest.mark.parametrize("name", ["simsiam", "simclr"])
def test_local_ssl_learners_detect_blobs_from_imagenet_start(task, tmp_path, name):
    # One epoch of SSL adaptation from the bundled ImageNet trunk, then the model's own kNN map.
    r = train_and_score(task, tmp_path, name, epochs=1, hparams={"bank_size": 4096, "pretrained": True})
    assert r["image_auroc"] >= 0.85
    assert r["pixel_auroc"] >= 0.9

"""cpc and loss-profile learn the small blob task on CPU, from scratch.

The task (``zoo_helpers.blob_task``): 48 brick crops for training, 16 normal and 16 crops with a noisy
ellipse ±50 grey levels from the crop's mean for testing, 64 px gray. Each run goes through the real
trainer and ``predict_dataset``; thresholds are well above chance (0.5) and below what each run measured
(cpc: image 1.000, pixel 0.988; loss-profile: image 0.887, pixel 0.972), so that they hold across
platforms.
"""

from __future__ import annotations

import pytest
from zoo_helpers import blob_task, train_and_score

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return blob_task(tmp_path_factory.mktemp("blobs") / "blobs.h5")


def test_cpc_learns_blobs(task, tmp_path):
    # 8 px patches (a 15×15 grid at 64 px), negatives from the batch, test negatives from the bank.
    hp = {"patch_size": 8, "widths": [16, 32], "dim": 32, "bank_size": 4096, "score": "max"}
    r = train_and_score(task, tmp_path, "cpc", epochs=20, lr=1e-3, hparams=hp)
    assert r["image_auroc"] >= 0.85
    assert r["pixel_auroc"] >= 0.85


def test_loss_profile_learns_blobs(task, tmp_path):
    # Five snapshots in ten epochs (after epochs 2, 4, 6, 8 and the final model), a Gaussian per cell.
    hp = {"widths": [16, 32, 64], "latent": 8, "snapshots": 5}
    r = train_and_score(task, tmp_path, "loss-profile", epochs=10, hparams=hp)
    assert r["image_auroc"] >= 0.75
    assert r["pixel_auroc"] >= 0.9

"""GradCon and OE-SDN learn the small blob task on CPU through the real trainer.

The task (``zoo_helpers.blob_task``): 48 brick crops for training, 16 normal and 16 crops with a noisy
ellipse ±50 grey levels from the crop's mean for testing, 64 px gray. Thresholds are well above chance
(0.5) and below what each run measured (in the comments), so that they hold across platforms.
"""

from __future__ import annotations

import pytest
from zoo_helpers import blob_task, train_and_score

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return blob_task(tmp_path_factory.mktemp("blobs") / "blobs.h5")


def test_gradcon_learns_blobs(task, tmp_path):
    # Measured: image AUROC 0.898, pixel AUROC 0.991 (20 epochs, about 12 s).
    r = train_and_score(task, tmp_path, "gradcon", epochs=20, hparams={"widths": [16, 16, 32, 32]})
    assert r["image_auroc"] >= 0.75
    assert r["pixel_auroc"] >= 0.85
    assert r["result"].metrics["grad_loss"] < 0  # the constraint aligns the gradients with their mean


def test_oe_sdn_learns_blobs_with_draem_outlier_exposure(task, tmp_path):
    # The default recipe (draem, procedural textures). Measured: image AUROC 1.000, pixel AUROC 0.999
    # (10 epochs, about 40 s).
    r = train_and_score(
        task, tmp_path, "oe-sdn", epochs=10, lr=1e-3, hparams={"latent_dim": 32, "student_width": 8}
    )
    assert r["image_auroc"] >= 0.75
    assert r["pixel_auroc"] >= 0.85

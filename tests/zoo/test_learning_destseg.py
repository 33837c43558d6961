"""DeSTSeg learns the blob task from synthetic defects, and the trainer's recipe is what reaches it.

Learning: trained through the trainer on the shared blob task (48 brick crops, 64 px, gray; 16 normal and
16 blob test crops, ``zoo_helpers.blob_task``) with the default ``draem`` recipe (no blob is ever shown) on
the bundled ImageNet EfficientNet-Lite0, predicted through ``predict_dataset``, scored with scikit-learn.
Thresholds are well above chance and below the measured figures given per case.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zoo_helpers import StandInRecipe, blob_dataset, blob_task, train_and_score

from adsynth.zoo import load_models
from adsynth.zoo.checkpoint import read_checkpoint
from adsynth.zoo.destseg.model import DeSTSeg
from adsynth.zoo.trainer import TrainConfig, train

load_models()

SMALL = {"student_width": 8, "seg_width": 16, "top_k": 20}
#: output → (asserted minimum image AUROC, pixel AUROC); 20 epochs (4 student, 16 segmentation).
CASES = {
    # measured 0.945 / 0.950 (7 s on one thread).
    "segmentation": (0.8, 0.8),
    # the student alone (the paper's DeST map): measured 1.000 / 0.997 (7 s).
    "student": (0.85, 0.85),
}


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return blob_task(tmp_path_factory.mktemp("blobs") / "blobs.h5")


@pytest.mark.slow
@pytest.mark.parametrize("output", CASES)
def test_destseg_detects_blobs(output, task, tmp_path):
    min_image, min_pixel = CASES[output]
    r = train_and_score(task, tmp_path, "destseg", epochs=20, hparams={**SMALL, "output": output})
    assert r["image_auroc"] >= min_image, r["image_auroc"]
    assert r["pixel_auroc"] >= min_pixel, r["pixel_auroc"]


def _seen_batches(data, out, monkeypatch, **kw) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The ``aug_image`` and ``aug_mask`` of every training step the model received (1 epoch)."""
    images, masks = [], []
    step = DeSTSeg.training_step

    def spy(self, batch, optimizer_idx=0):
        if optimizer_idx == 0:
            images.append(batch["aug_image"].clone())
            masks.append(batch["aug_mask"].clone())
        return step(self, batch, optimizer_idx)

    monkeypatch.setattr(DeSTSeg, "training_step", spy)
    hparams = {"student_width": 2, "student_blocks": 1, "seg_width": 4, "top_k": 4}
    cfg = dict(
        epochs=1, batch_size=2, image_size=32, workers=0, device="cpu", progress=False, hparams=hparams
    )
    r = train(TrainConfig(model="destseg", data=data, out=str(out), seed=0, **cfg, **kw))
    assert r.epochs == 1
    return torch.cat(images), torch.cat(masks)


def test_the_recipe_reaches_the_model(tmp_path, monkeypatch):
    data = blob_dataset(tmp_path / "d.h5", n_train=4, n_test=1, size=32)
    default = _seen_batches(data, tmp_path / "default", monkeypatch)
    again = _seen_batches(data, tmp_path / "again", monkeypatch, recipe="draem")
    other = _seen_batches(data, tmp_path / "other", monkeypatch, recipe=StandInRecipe(normal_fraction=0.0))
    # The default is the DRAEM texture recipe; naming it gives the same batches.
    assert read_checkpoint(tmp_path / "default" / "model.pt")["train_config"]["recipe"] == "draem"
    assert torch.equal(default[0], again[0]) and torch.equal(default[1], again[1])
    # Another recipe, other training images and masks; every one of its samples holds a defect.
    assert not torch.equal(default[0], other[0])
    assert not torch.equal(default[1], other[1])
    assert bool((other[1].flatten(1).amax(1) > 0).all())
    assert np.isfinite(other[0].numpy()).all()

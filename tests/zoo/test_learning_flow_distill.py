"""Short CPU runs of the distillation and normalising-flow methods on the bundled ImageNet backbone.

The task (``zoo_helpers.blob_task``): 64×64 grayscale crops of scikit-image's brick texture; 48 crops
train the model, the test split holds 16 other crops and 16 crops with a painted ellipse whose grey level
is ±50 from the crop's mean. Each run goes through the trainer → checkpoint → predict_dataset → maps.h5
and scores image and pixel AUROC (scikit-learn). The frozen EfficientNet-Lite0 features already separate
the blobs well, so besides the AUROCs each test checks that the trainable part learnt: its training loss
fell between the first and the last logged step.

Measured here (2 epochs, 1 thread; image / pixel AUROC): see each method's README.
"""

from __future__ import annotations

import csv

import pytest
import torch
from zoo_helpers import blob_task, train_and_score

from adsynth.zoo import create_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return blob_task(tmp_path_factory.mktemp("learning-flow-distill") / "brick.h5")


def losses(result) -> list[float]:
    with open(result.out / "metrics.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize(
    ("model", "hparams", "image_min", "pixel_min"),
    [
        ("reverse-distillation", {}, 0.9, 0.9),
        ("stpm", {}, 0.75, 0.85),
        ("fastflow", {}, 0.9, 0.9),
        ("cflow", {"fibers_per_step": 256}, 0.75, 0.6),
        ("differnet", {"hidden": 256, "test_transforms": 1}, 0.75, 0.6),
    ],
)
def test_learns_blob_task(task, tmp_path, model, hparams, image_min, pixel_min):
    r = train_and_score(task, tmp_path, model, 2, hparams=hparams, log_every=1)
    curve = losses(r["result"])
    assert curve[-1] < curve[0], curve
    assert r["image_auroc"] >= image_min, r["image_auroc"]
    assert r["pixel_auroc"] >= pixel_min, r["pixel_auroc"]


@pytest.mark.parametrize("model", ["reverse-distillation", "stpm", "fastflow", "cflow", "differnet"])
def test_train_mode_keeps_the_frozen_backbone_in_eval_mode(model):
    """The trainer calls model.train() every epoch: BatchNorm of the frozen backbone must not update its
    running statistics, and no backbone weight may change."""
    torch.manual_seed(0)
    m = create_model(model, image_size=64, channels=1)
    before = {k: v.clone() for k, v in m.backbone.state_dict().items()}
    m.train()
    assert not m.backbone.training and not any(x.training for x in m.backbone.modules())
    assert not any(p.requires_grad for p in m.backbone.parameters())
    opt, _ = m.configure_optimizers(lr=1e-3)
    batch = {"image": torch.rand(4, 1, 64, 64), "index": torch.arange(4)}
    loss = m.training_step(batch)["loss"]
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert all(p.grad is None for p in m.backbone.parameters())
    after = m.backbone.state_dict()
    for k, v in before.items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=0, msg=k)

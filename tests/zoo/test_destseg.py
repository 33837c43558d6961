"""DeSTSeg: the trainer's recipe is what reaches the model.

Its learning cases (the segmentation head and the student alone, trained on the default ``draem`` recipe's
defects, no blob ever shown) are in ``zoo/methods/destseg/testing.py``, run by ``test_learning.py``.
"""

from __future__ import annotations

import numpy as np
import torch
from zoo_helpers import StandInRecipe, blob_dataset

from adsynth.zoo import load_models
from adsynth.zoo.checkpoint import read_checkpoint
from adsynth.zoo.methods.destseg.model import DeSTSeg
from adsynth.zoo.trainer import TrainConfig, train

load_models()


def _seen_batches(
    data, out, monkeypatch, extra: dict | None = None, **kw
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The ``aug_image`` and ``aug_mask`` of every training step the model received (1 epoch)."""
    images, masks = [], []
    step = DeSTSeg.training_step

    def spy(self, batch, optimizer_idx=0):
        if optimizer_idx == 0:
            images.append(batch["aug_image"].clone())
            masks.append(batch["aug_mask"].clone())
        return step(self, batch, optimizer_idx)

    monkeypatch.setattr(DeSTSeg, "training_step", spy)
    hparams = {"student_width": 2, "student_blocks": 1, "seg_width": 4, "top_k": 4, **(extra or {})}
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


def test_defect_balance_weighs_each_defect_not_each_pixel():
    """balance='defect': with equal areas it is the paper's loss; with a large and a small defect the
    small one's pixels carry as much of the loss as the large one's."""
    from adsynth.zoo.methods.destseg.loss import segmentation_loss

    logits = torch.zeros(2, 1, 8, 8, requires_grad=True)
    equal = torch.zeros(2, 1, 8, 8)
    equal[0, 0, :2, :2] = equal[1, 0, 4:6, 4:6] = 1
    a = segmentation_loss(logits, equal, balance="pixel")["loss"]
    b = segmentation_loss(logits, equal, balance="defect")["loss"]
    assert torch.allclose(a, b)

    mixed = torch.zeros(2, 1, 8, 8)
    mixed[0, 0, :1, :1] = 1  # 1 pixel
    mixed[1, 0, :4, :] = 1  # 32 pixels
    for balance, small_share in (("pixel", lambda s: s < 0.1), ("defect", lambda s: 0.4 < s < 0.6)):
        logits.grad = None
        segmentation_loss(logits, mixed, balance=balance)["loss"].backward()
        g = logits.grad.abs()[:, 0]
        small, large = float(g[0][mixed[0, 0] > 0].sum()), float(g[1][mixed[1, 0] > 0].sum())
        assert small_share(small / (small + large)), (balance, small, large)


def test_the_normal_memory_is_built_once_read_by_the_head_and_kept_in_the_checkpoint(tmp_path):
    from adsynth.zoo.methods.destseg.memory import NormalMemory

    # normal features sit next to the bank, features unlike any normal one far from it
    gen = torch.Generator().manual_seed(0)
    normal = [torch.randn(6, 8, 8, 8, generator=gen) * 0.1 + 1.0]
    mem = NormalMemory([8], size=64)
    mem.build(lambda x: x, [normal], n_images=6)
    near = mem.distances([torch.randn(2, 8, 8, 8, generator=gen) * 0.1 + 1.0])[0]
    far = mem.distances([torch.randn(2, 8, 8, 8, generator=gen)])[0]
    assert bool(mem.ready) and float(near.mean()) < 1.0 < float(far.mean())

    data = blob_dataset(tmp_path / "blobs.h5", n_train=6, n_test=2, size=32)
    hp = {"student_width": 2, "student_blocks": 1, "seg_width": 4, "top_k": 4, "memory": 32}
    cfg = dict(epochs=2, batch_size=2, image_size=32, workers=0, device="cpu", progress=False, hparams=hp)
    train(TrainConfig(model="destseg", data=data, out=str(tmp_path / "run"), seed=0, **cfg))
    state = read_checkpoint(tmp_path / "run" / "model.pt")["state_dict"]
    assert bool(state["memory.ready"]) and state["memory.bank0"].shape[0] == 32
    assert float(state["memory.bank0"].abs().sum()) > 0
    # the head reads it: another memory gives another map
    model = DeSTSeg(image_size=32, channels=1, pretrained=False, **hp)
    model.load_state_dict(state)
    model.eval()
    x = torch.rand(2, 1, 32, 32, generator=gen)
    before = model.predict(x).anomaly_map
    model.memory.bank0.copy_(
        torch.nn.functional.normalize(torch.randn(32, model.memory.bank0.shape[1]), dim=1)
    )
    assert not torch.allclose(before, model.predict(x).anomaly_map)


def test_sigma_blurs_the_map_and_leaves_the_image_score():
    """sigma = 4: the map is the unblurred map through the shared Gaussian blur; the score is unchanged."""
    from adsynth.zoo.components.blur import gaussian_blur2d

    hp = {"image_size": 32, "pretrained": False, "student_width": 2, "student_blocks": 1, "seg_width": 4}
    torch.manual_seed(0)
    plain = DeSTSeg(**hp, top_k=4).eval()
    blurred = DeSTSeg(**hp, top_k=4, sigma=4.0).eval()
    blurred.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    a, b = plain.predict(x), blurred.predict(x)
    assert torch.equal(a.score, b.score)
    assert not torch.allclose(a.anomaly_map, b.anomaly_map)
    assert torch.allclose(b.anomaly_map, gaussian_blur2d(a.anomaly_map, 4.0))
    assert plain._hparams["sigma"] == 0.0


def test_rotation_turns_the_training_images_and_is_off_by_default(tmp_path, monkeypatch):
    data = blob_dataset(tmp_path / "d.h5", n_train=4, n_test=1, size=32)
    plain = _seen_batches(data, tmp_path / "plain", monkeypatch)
    turned = _seen_batches(data, tmp_path / "turned", monkeypatch, extra={"rotation": 90.0})
    again = _seen_batches(data, tmp_path / "again", monkeypatch, extra={"rotation": 90.0})
    assert not torch.equal(plain[0], turned[0])
    assert torch.equal(turned[0], again[0]) and torch.equal(turned[1], again[1])  # seeded
    hp = {"image_size": 32, "pretrained": False, "student_width": 2, "student_blocks": 1, "seg_width": 4}
    assert DeSTSeg(**hp).train_rotation() is None
    assert DeSTSeg(**hp, rotation=5.0).train_rotation() == (1.0, 5.0)

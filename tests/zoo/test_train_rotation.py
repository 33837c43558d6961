"""DRAEM's rotation of the normal training image (p = 0.3, U(-90, 90) degrees, black corners)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adsynth.errors import ConfigError
from adsynth.zoo import create_model, load_models
from adsynth.zoo.data import ZooDataset, rotate_image
from adsynth.zoo.trainer import TrainConfig, train

load_models()


def test_rotate_image_by_90_degrees_is_a_quarter_turn_and_keeps_the_shape():
    rng = np.random.default_rng(0)
    for c in (1, 3):
        img = rng.integers(0, 256, (16, 16, c), dtype=np.uint8)
        out = rotate_image(img, 90.0)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.array_equal(out, np.rot90(img, 1))  # positive angle: counter-clockwise


def test_rotation_blackens_corners_follows_its_probability_and_is_seeded(tiny_dataset):
    ds = ZooDataset(tiny_dataset, 32, split="train")
    plain = [ds[i]["image"] for i in range(len(ds))]
    ds.rotation = (0.0, 90.0)
    assert all(torch.equal(ds[i]["image"], plain[i]) for i in range(len(ds)))
    ds.rotation = (1.0, 45.0)
    rotated = [ds[i]["image"] for i in range(len(ds))]
    for r, p in zip(rotated, plain, strict=True):
        assert not torch.equal(r, p)
    # A turn of at least a few degrees leaves the corner pixel outside the source: black.
    corners = [float(r[:, 0, 0].abs().sum()) for r in rotated]
    assert sum(c == 0 for c in corners) >= len(ds) - 1
    again = ZooDataset(tiny_dataset, 32, split="train")
    again.rotation = (1.0, 45.0)
    assert all(torch.equal(again[i]["image"], rotated[i]) for i in range(len(ds)))
    again.set_epoch(1)
    assert any(not torch.equal(again[i]["image"], rotated[i]) for i in range(len(ds)))


def test_draem_rotation_parameter_and_validation():
    assert create_model("draem", image_size=64, base_width=4).train_rotation() == (0.3, 90.0)
    assert create_model("draem-sspcab", image_size=64, base_width=4, rotate_prob=0.5).train_rotation() == (
        0.5,
        90.0,
    )
    assert create_model("draem", image_size=64, base_width=4, rotate_prob=0).train_rotation() is None
    assert create_model("ae", image_size=64).train_rotation() is None
    with pytest.raises(ConfigError, match="rotate_prob"):
        create_model("draem", image_size=64, rotate_prob=1.5)


def test_trainer_hands_the_model_rotation_to_the_dataset(tiny_dataset, tmp_path, monkeypatch):
    seen = []
    original = ZooDataset.__getitem__

    def spy(self, i):
        seen.append(self.rotation)
        return original(self, i)

    monkeypatch.setattr(ZooDataset, "__getitem__", spy)
    cfg = dict(data=str(tiny_dataset), epochs=1, batch_size=2, image_size=32, workers=0, device="cpu")
    cfg["progress"] = False
    train(TrainConfig(model="draem", out=str(tmp_path / "d"), hparams={"base_width": 2}, **cfg))
    assert seen and set(seen) == {(0.3, 90.0)}
    seen.clear()
    train(TrainConfig(model="ae", out=str(tmp_path / "a"), **cfg))
    assert seen and set(seen) == {None}

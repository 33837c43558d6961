"""GLASS: the trainer's recipe is what reaches it, the manifold mode resumes exactly, the ring projection
and the global anomalies, parameter checks.

Its learning cases (manifold and hypersphere, LAS from the default ``draem`` recipe, no blob ever shown) are
in ``zoo/methods/glass/testing.py``, run by ``test_learning.py``.
"""

from __future__ import annotations

import pytest
import torch
from zoo_helpers import StandInRecipe, blob_dataset

from adsynth.errors import ConfigError
from adsynth.zoo import load_models
from adsynth.zoo.checkpoint import MODEL_FILE, read_checkpoint
from adsynth.zoo.methods.glass.loss import ring_projection
from adsynth.zoo.methods.glass.model import GLASS
from adsynth.zoo.trainer import TrainConfig, train

load_models()
_TRAINING_STEP = GLASS.training_step


def _seen(data, out, monkeypatch, **kw) -> tuple[torch.Tensor, torch.Tensor, list[float]]:
    """The ``aug_image`` and ``aug_mask`` of every training step the model received, and its losses."""
    images, masks, losses = [], [], []

    def spy(self, batch):
        images.append(batch["aug_image"].clone())
        masks.append(batch["aug_mask"].clone())
        out = _TRAINING_STEP(self, batch)
        losses.append(float(out["loss"].detach()))
        return out

    monkeypatch.setattr(GLASS, "training_step", spy)
    hparams = {"hidden": 8, "ascent_steps": 2, "project_every": 1}
    cfg = dict(
        epochs=1, batch_size=2, image_size=32, workers=0, device="cpu", progress=False, hparams=hparams
    )
    r = train(TrainConfig(model="glass", data=data, out=str(out), seed=0, **cfg, **kw))
    assert r.epochs == 1
    return torch.cat(images), torch.cat(masks), losses


def test_the_recipe_reaches_the_model(tmp_path, monkeypatch):
    data = blob_dataset(tmp_path / "d.h5", n_train=4, n_test=1, size=32)
    default = _seen(data, tmp_path / "default", monkeypatch)
    again = _seen(data, tmp_path / "again", monkeypatch, recipe="draem")
    other = _seen(data, tmp_path / "other", monkeypatch, recipe=StandInRecipe(normal_fraction=0.0))
    # The default is the DRAEM texture recipe; naming it gives the same batches and losses.
    assert read_checkpoint(tmp_path / "default" / "model.pt")["train_config"]["recipe"] == "draem"
    assert torch.equal(default[0], again[0]) and torch.equal(default[1], again[1])
    assert default[2] == again[2]
    # Another recipe: other training images and masks (every one holds a defect), other losses.
    assert not torch.equal(default[0], other[0])
    assert not torch.equal(default[1], other[1])
    assert bool((other[1].flatten(1).amax(1) > 0).all())
    assert default[2] != other[2]


class _Stop(Exception):
    pass


def _stop_after_first(epoch, _):
    if epoch == 1:
        raise _Stop


def test_manifold_resume_equals_uninterrupted(tmp_path):
    """The manifold mode's projection path resumes exactly too (the registry-wide resume test runs the
    hypersphere default, whose centre is recomputed at the resumed epoch's start)."""
    data = blob_dataset(tmp_path / "d.h5", n_train=4, n_test=1, size=32)
    hparams = {"hidden": 8, "ascent_steps": 2, "project_every": 1, "distribution": "manifold"}

    def config(out):
        return TrainConfig(
            model="glass", data=data, out=str(out), epochs=2, batch_size=2, image_size=32, workers=0,
            seed=0, device="cpu", progress=False, hparams=hparams,
        )  # fmt: skip

    train(config(tmp_path / "full"))
    with pytest.raises(_Stop):
        train(config(tmp_path / "part"), on_epoch_end=_stop_after_first)
    train(TrainConfig(out=str(tmp_path / "part"), resume=True, device="cpu", workers=0, progress=False))
    a = read_checkpoint(tmp_path / "full" / MODEL_FILE)["state_dict"]
    b = read_checkpoint(tmp_path / "part" / MODEL_FILE)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_ring_projection_clamps_lengths():
    x = torch.randn(2, 8, 3, 3) * torch.tensor([0.01, 1.0, 100.0]).view(1, 1, 1, 3)
    n = ring_projection(x, 0.5, 2.0).norm(dim=1)
    assert bool(((n >= 0.5 - 1e-5) & (n <= 2.0 + 1e-5)).all())
    inside = x.norm(dim=1)
    keep = (inside >= 0.5) & (inside <= 2.0)
    assert torch.allclose(n[keep], inside[keep])


def test_global_anomalies_stay_in_the_ring():
    m = GLASS(image_size=32, pretrained=False, hidden=8, ascent_steps=4, project_every=2, ring=(1.0, 1.5))
    feats = torch.randn(2, m.embed_dim, 4, 4)
    gaus = m._global_anomalies(feats, torch.Generator().manual_seed(0), None, None)
    unit = m._hparams["noise_std"] * m.embed_dim**0.5
    d = (gaus - feats).norm(dim=1) / unit
    assert bool(((d >= 1.0 - 1e-4) & (d <= 1.5 + 1e-4)).all())


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("distribution", "sphere"),
        ("ascent_steps", -1),
        ("ring", (2.0, 1.0)),
        ("hard_fraction", 0.0),
        ("noise_std", 0),
        ("project_every", 0),
    ],
)
def test_bad_hyper_parameters_are_refused(key, value):
    with pytest.raises(ConfigError, match=f"`{key}`"):
        GLASS(image_size=32, pretrained=False, hidden=8, **{key: value})

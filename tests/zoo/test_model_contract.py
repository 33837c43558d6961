"""Contract tests over every registered model (STYLE pattern 11): build at 64 px on CPU, one training step
or fitting pass, prediction shapes, checkpoint save/load round-trip, config round-trip, a frozen backbone
left alone by training. The sizes come from each method folder's ``testing.py`` (``contract``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from zoo_helpers import paint_blob

from adsynth.zoo import create_model, load_models, model_hparams
from adsynth.zoo.base import MODELS, Prediction
from adsynth.zoo.checkpoint import load_model, make_checkpoint, read_checkpoint, save_checkpoint
from adsynth.zoo.testing import settings_for

load_models()
NAMES = MODELS.list()
SIZE = 64


def small_config(name: str, channels: int = 3) -> dict:
    """The model's contract settings (its ``testing.py``: small enough for a CPU test; the defaults are the
    papers'), offline, on the smallest common backbone."""
    params = model_hparams(name) or {}
    cfg = {"image_size": SIZE, "channels": channels, **settings_for(name).contract}
    if "pretrained" in params:
        cfg["pretrained"] = False  # no weights files in tests
    if "backbone" in params:
        cfg["backbone"] = "resnet18"  # the smallest common backbone keeps CPU time low
    return cfg


def make_batch(model, n: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(60, 200, (n, SIZE, SIZE, model.channels), dtype=np.uint8)
    batch = {
        "image": torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255,
        "label": torch.zeros(n, dtype=torch.int64),
        "index": torch.arange(n),
    }
    if model.uses_synthetic:
        aug, masks = zip(*(paint_blob(im, rng) for im in imgs), strict=True)
        batch["aug_image"] = torch.from_numpy(np.stack(aug)).permute(0, 3, 1, 2).float() / 255
        batch["aug_mask"] = torch.from_numpy(np.stack(masks)).float()[:, None]
        batch["aug_label"] = torch.ones(n, dtype=torch.int64)
    return batch


def train_once(model, batch) -> None:
    if model.fit_mode in ("gradient", "both"):
        model.train()
        configured = model.configure_optimizers(lr=1e-4, epochs=1)
        # Several optimizers (GANs): one step of each that is active in the first phase.
        pairs = configured if isinstance(configured, list) else [configured]
        outs = 0
        for i, (opt, _) in enumerate(pairs):
            out = (
                model.training_step(batch, optimizer_idx=i)
                if isinstance(configured, list)
                else (model.training_step(batch))
            )
            if out is None:
                continue
            assert out["loss"].ndim == 0 and torch.isfinite(out["loss"]), out
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            outs += 1
        assert outs >= 1
    if model.fit_mode in ("fit", "both"):
        model.eval()
        with torch.no_grad():
            model.fit_batch(batch)
            model.fit_end()
    model.eval()


@pytest.fixture(scope="module", params=NAMES)
def trained(request):
    name = request.param
    torch.manual_seed(0)
    model = create_model(name, **small_config(name))
    batch = make_batch(model)
    train_once(model, batch)
    return name, model, batch


def test_registry_holds_the_methods():
    for name in ("ae", "vae", "draem"):
        assert name in MODELS


def test_class_attributes(trained):
    name, model, _ = trained
    cls = type(model)
    assert cls.name == name
    assert cls.family and cls.paper
    assert cls.fit_mode in ("gradient", "fit", "both")
    assert isinstance(cls.needs_pretrained, bool) and isinstance(cls.uses_synthetic, bool)
    assert not cls.uses_synthetic or cls.default_recipe
    assert type(cls.default_batch_size) is int and cls.default_batch_size >= 1
    assert isinstance(cls.default_lr, (int, float)) and math.isfinite(cls.default_lr) and cls.default_lr > 0
    assert type(cls.default_epochs) is int
    if cls.fit_mode == "fit":
        assert cls.default_epochs == 1  # fit-only: one fitting pass, no gradient epoch
    else:
        assert cls.default_epochs >= 1  # the trainer refuses a gradient run of 0 epochs


def test_predict_shapes_and_finite(trained):
    _, model, batch = trained
    pred = model.predict(batch["image"])
    assert isinstance(pred, Prediction)
    assert pred.anomaly_map.shape == (4, SIZE, SIZE) and pred.score.shape == (4,)
    assert pred.anomaly_map.dtype == torch.float32 and pred.score.dtype == torch.float32
    assert torch.isfinite(pred.anomaly_map).all() and torch.isfinite(pred.score).all()
    # A wrong channel count is refused with a message naming the expected shape.
    with pytest.raises(ValueError, match="expected images"):
        model.predict(torch.rand(1, 2, SIZE, SIZE))


def test_checkpoint_round_trip(trained, tmp_path):
    name, model, batch = trained
    path = save_checkpoint(tmp_path / "model.pt", make_checkpoint(model, epoch=1))
    ckpt = torch.load(path, weights_only=True)  # plain tensors and Python data only
    assert ckpt["model"] == name and ckpt["epoch"] == 1
    assert read_checkpoint(path)["config"] == model.config()
    loaded = load_model(path, "cpu")
    assert type(loaded) is type(model) and not loaded.training
    a, b = model.predict(batch["image"]), loaded.predict(batch["image"])
    torch.testing.assert_close(a.anomaly_map, b.anomaly_map, rtol=0, atol=0)
    torch.testing.assert_close(a.score, b.score, rtol=0, atol=0)


def test_config_round_trip(trained):
    name, model, _ = trained
    cfg = model.config()
    assert cfg["image_size"] == SIZE and cfg["channels"] == 3
    assert create_model(name, **cfg).config() == cfg


#: gradient-trained models on a frozen backbone (a fit-only model is never put in training mode)
FROZEN = [
    n for n in NAMES if getattr(MODELS.get(n), "frozen_backbone", False) and MODELS.get(n).fit_mode != "fit"
]


@pytest.mark.parametrize("name", FROZEN)
def test_training_leaves_a_frozen_backbone_alone(name):
    """The trainer calls model.train() every epoch: the BatchNorm layers of a frozen backbone must not
    update their running statistics, and no backbone weight may change or receive a gradient."""
    torch.manual_seed(0)
    model = create_model(name, **small_config(name))
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model.train()
    assert not model.backbone.training and not any(x.training for x in model.backbone.modules())
    assert not any(p.requires_grad for p in model.backbone.parameters())
    train_once(model, make_batch(model))
    assert all(p.grad is None for p in model.backbone.parameters())
    after = model.backbone.state_dict()
    for k, v in before.items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=0, msg=k)


def test_grayscale_input():
    for name in NAMES:
        cls = MODELS.get(name)
        if cls.fit_mode != "gradient" or name == "memseg":
            # The fit-mode models' grayscale path is covered by their own tests; memseg's memory is
            # filled by its first training steps (its learning test trains on 1-channel images).
            continue
        model = create_model(name, **small_config(name, channels=1)).eval()
        assert model.predict(torch.rand(2, 1, SIZE, SIZE)).anomaly_map.shape == (2, SIZE, SIZE)


def test_unknown_hyperparameter_is_a_config_error():
    from adsynth.errors import ConfigError

    with pytest.raises(ConfigError, match="no hyper-parameter 'nope'.*valid"):
        create_model("ae", nope=1)
    with pytest.raises(ConfigError, match="image_size"):
        create_model("ae", image_size=48)
    with pytest.raises(ConfigError, match="multiple of 32"):
        create_model("draem", image_size=80)


@pytest.mark.parametrize("name", [n for n in NAMES if MODELS.get(n).needs_pretrained])
def test_pretrained_models_train_with_their_defaults_offline(name, tmp_path, monkeypatch):
    """A fresh install with no network and empty caches: the default backbone is the bundled one."""
    import socket

    from zoo_helpers import texture_crops, write_dataset

    from adsynth.zoo.trainer import TrainConfig, train

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    data = write_dataset(tmp_path / "d.h5", texture_crops(8, size=SIZE))
    r = train(
        TrainConfig(
            model=name,
            data=data,
            out=tmp_path / "run",
            epochs=1,
            image_size=SIZE,
            batch_size=4,
            workers=0,
            device="cpu",
            progress=False,
        )
    )
    model = load_model(r.checkpoint)
    assert model.weights_source.startswith("bundled:")
    pred = model.eval().predict(torch.rand(2, model.channels, SIZE, SIZE))
    assert torch.isfinite(pred.score).all() and pred.anomaly_map.shape == (2, SIZE, SIZE)

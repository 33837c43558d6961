"""Resume equals an uninterrupted run for every gradient-trained model of the registry (at the smallest
settings of its folder's ``testing.py``, ``resume``); ``--seed`` reaches every model that declares a
``seed``; explicit zeros in the training options are refused."""

from __future__ import annotations

import pytest
import torch
from zoo_helpers import blob_dataset

from adsynth.errors import ConfigError
from adsynth.zoo import load_models
from adsynth.zoo.base import MODELS
from adsynth.zoo.checkpoint import LAST_FILE, MODEL_FILE, read_checkpoint
from adsynth.zoo.testing import settings_for
from adsynth.zoo.trainer import TrainConfig, train
from adsynth.zoo.training.config import resolve

load_models()
SIZE = 32

GRADIENT = [n for n in MODELS.list() if MODELS.get(n).fit_mode in ("gradient", "both")]
# Declared by the model or by a base it forwards **kwargs to (the registry's listing).
SEEDED = [n for n in MODELS.list() if "seed" in (MODELS.params(n) or {})]
# Fit-only models, for the seed test: a random-init ResNet-18 keeps them fast and offline.
FIT_SMALL = {"backbone": "resnet18", "pretrained": False}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return blob_dataset(tmp_path_factory.mktemp("data") / "blobs.h5", n_train=4, n_test=1, size=SIZE)


def config(model: str, data, out, **kw) -> TrainConfig:
    resume = settings_for(model).resume  # the smallest hyper-parameters at 32 px (its testing.py)
    hparams = FIT_SMALL if resume is None else resume
    base = dict(
        model=model,
        data=data,
        out=str(out),
        epochs=2,
        batch_size=2,
        lr=1e-3,
        image_size=SIZE,
        workers=0,
        seed=0,
        device="cpu",
        progress=False,
        log_every=1,
        hparams=dict(hparams),
    )
    return TrainConfig(**{**base, **kw})


class Interrupt(Exception):
    pass


def stop_after_first(epoch, _):
    if epoch == 1:
        raise Interrupt


def assert_equal(a, b, where: str) -> None:
    """Nested dicts/lists of tensors and plain values are identical (tensors by ``torch.equal``)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_equal(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_every_gradient_model_has_resume_settings():
    """A gradient-trained model declares its smallest settings (``resume`` in its folder's testing.py),
    a fit-only one none (it has no epoch to resume)."""
    declared = [n for n in MODELS.list() if settings_for(n).resume is not None]
    assert declared == GRADIENT, (
        "set `resume` in zoo/methods/<method>/testing.py: a dict for gradient models, else None"
    )


@pytest.mark.parametrize("model", GRADIENT)
def test_resume_equals_uninterrupted(model, data, tmp_path):
    full = train(config(model, data, tmp_path / "full"))
    assert full.epochs == 2 and full.steps == 4
    with pytest.raises(Interrupt):
        train(config(model, data, tmp_path / "part"), on_epoch_end=stop_after_first)
    assert read_checkpoint(tmp_path / "part" / LAST_FILE)["epoch"] == 1
    resumed = train(
        TrainConfig(out=str(tmp_path / "part"), resume=True, device="cpu", workers=0, progress=False)
    )
    assert resumed.epochs == 2 and resumed.steps == 4
    for name in (MODEL_FILE, LAST_FILE):
        a, b = read_checkpoint(tmp_path / "full" / name), read_checkpoint(tmp_path / "part" / name)
        assert_equal(a["state_dict"], b["state_dict"], f"{name} state_dict")
        assert a["epoch"] == b["epoch"] == 2 and a["fitted"] == b["fitted"]
    a, b = read_checkpoint(tmp_path / "full" / LAST_FILE), read_checkpoint(tmp_path / "part" / LAST_FILE)
    assert a["optimizer"] is not None  # the gradient phase's state, also after a fitting pass
    for key in ("optimizer", "scheduler", "scaler", "rng"):
        assert_equal(a[key], b[key], f"last.pt {key}")


@pytest.mark.parametrize("model", SEEDED)
def test_seed_reaches_the_model(model, data, tmp_path):
    for seed in (3, 4):
        r = train(config(model, data, tmp_path / str(seed), epochs=1, seed=seed))
        assert read_checkpoint(r.checkpoint)["config"]["seed"] == seed


def test_a_seed_hyper_parameter_wins_over_the_run_seed(data, tmp_path):
    r = train(config("padim", data, tmp_path / "run", seed=3, hparams={**FIT_SMALL, "seed": 7}))
    assert read_checkpoint(r.checkpoint)["config"]["seed"] == 7
    assert read_checkpoint(r.checkpoint)["train_config"]["seed"] == 3


def test_seeded_models_are_found():
    assert {"cutpaste", "intra", "padim", "patchcore", "riad", "simplenet", "glass"} <= set(SEEDED)


@pytest.mark.parametrize(
    ("option", "value"),
    [("lr", 0), ("lr", -1e-3), ("lr", float("nan")), ("image_size", 0), ("epochs", -1), ("batch_size", 0)],
)
def test_explicit_zero_or_negative_options_are_refused(option, value, data, tmp_path):
    with pytest.raises(ConfigError, match=f"`{option}`"):
        train(config("ae", data, tmp_path / "run", **{option: value}))
    assert not (tmp_path / "run" / MODEL_FILE).exists()


def test_zero_epochs_is_refused_for_a_gradient_model(data, tmp_path):
    with pytest.raises(ConfigError, match="`epochs` >= 1"):
        train(config("ae", data, tmp_path / "run", epochs=0))


def test_defaults_fill_only_missing_options():
    cls = MODELS.get("ae")
    filled = resolve(TrainConfig(model="ae"), cls)
    assert (filled.epochs, filled.batch_size, filled.lr) == (
        cls.default_epochs,
        cls.default_batch_size,
        cls.default_lr,
    )
    assert filled.image_size == 128 and filled.seed == 0 and filled.split == "train"
    given = resolve(TrainConfig(model="ae", epochs=1, batch_size=1, lr=0.5, image_size=16, seed=0), cls)
    assert (given.epochs, given.batch_size, given.lr, given.image_size) == (1, 1, 0.5, 16)
    # A fit-only model runs no gradient epoch, whatever was asked.
    assert resolve(TrainConfig(model="padim", epochs=5), MODELS.get("padim")).epochs == 0

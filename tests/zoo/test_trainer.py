"""The generic trainer: determinism, exact resume, NaN, run folders, predict_dataset (DDP: tests/cli)."""

from __future__ import annotations

import csv
import os

import h5py
import numpy as np
import pytest
import torch
from zoo_helpers import StandInRecipe, blob_dataset, draem_recipe

from adsynth.errors import ConfigError, OutputExistsError, TrainingError
from adsynth.zoo.checkpoint import LAST_FILE, MODEL_FILE, data_fingerprint, load_model, read_checkpoint
from adsynth.zoo.deploy.predict import predict_dataset
from adsynth.zoo.trainer import TrainConfig, resolve_device, train

TINY = {
    "ae": {"image_size": 32, "hparams": {"latent_dim": 8}},
    "vae": {"image_size": 32, "hparams": {"latent_dim": 8}},
    "draem": {"image_size": 32, "hparams": {"base_width": 4}},
    "fanogan": {
        "image_size": 32,
        "hparams": {"width": 4, "latent_dim": 8, "n_critic": 2, "gan_fraction": 0.5},
    },
    "ognet": {"image_size": 32, "hparams": {"width": 4, "phase_two_start": 0.5}},
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return blob_dataset(tmp_path_factory.mktemp("data") / "blobs.h5", n_train=10, n_test=3, size=32)


def cfg(model: str, data, out, **kw) -> TrainConfig:
    base = dict(
        model=model,
        data=data,
        out=str(out),
        epochs=3,
        batch_size=4,
        lr=1e-3,
        workers=0,
        seed=0,
        device="cpu",
        progress=False,
        log_every=2,
        **TINY[model],
    )
    if model == "draem":
        base["recipe"] = StandInRecipe()
    base.update(kw)
    return TrainConfig(**base)


def weights(path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


def assert_same_weights(a, b) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("model", ["vae", "draem"])
def test_resume_equals_uninterrupted(model, data, tmp_path):
    # VAE: the reparameterisation noise comes from the global torch RNG (saved and restored).
    # DRAEM: online synthesis per (seed, epoch, row), BatchNorm statistics and a MultiStepLR schedule.
    full = train(cfg(model, data, tmp_path / "full"))
    assert full.epochs == 3 and full.steps == 9

    def stop_after_two(epoch, _):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg(model, data, tmp_path / "part"), on_epoch_end=stop_after_two)
    assert read_checkpoint(tmp_path / "part" / MODEL_FILE)["epoch"] == 2
    resumed = train(
        cfg(
            model,
            data,
            tmp_path / "part",
            resume=True,
            epochs=None,
            **({"recipe": StandInRecipe()} if model == "draem" else {"recipe": None}),
        )
    )
    assert resumed.epochs == 3 and resumed.steps == 9
    assert_same_weights(tmp_path / "full" / MODEL_FILE, tmp_path / "part" / MODEL_FILE)
    assert_same_weights(tmp_path / "full" / LAST_FILE, tmp_path / "part" / LAST_FILE)
    # The metrics log has each epoch once, as an uninterrupted run's.
    with open(tmp_path / "part" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 1, 2, 2, 3, 3]


@pytest.mark.parametrize("model", ["fanogan", "ognet"])
def test_gan_resume_equals_uninterrupted(model, data, tmp_path):
    # Several optimizers with list states in last.pt, idle steps (n_critic), a phase switch by epoch
    # (f-AnoGAN's encoder, OGNet's fine-tuning of D) and OGNet's G_old snapshot: the run is interrupted
    # after epoch 2, past the phase switch of a 4-epoch run at epoch 2, and resumed.
    full = train(cfg(model, data, tmp_path / "full", epochs=4))
    assert full.epochs == 4

    def stop_after_two(epoch, _):
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cfg(model, data, tmp_path / "part", epochs=4), on_epoch_end=stop_after_two)
    ckpt = read_checkpoint(tmp_path / "part" / LAST_FILE)
    assert isinstance(ckpt["optimizer"], list) and len(ckpt["optimizer"]) == 3
    assert ckpt["scheduler"] == [None, None, None]
    train(cfg(model, data, tmp_path / "part", resume=True, epochs=None))
    assert_same_weights(tmp_path / "full" / MODEL_FILE, tmp_path / "part" / MODEL_FILE)
    full_opt = read_checkpoint(tmp_path / "full" / LAST_FILE)["optimizer"]
    part_opt = read_checkpoint(tmp_path / "part" / LAST_FILE)["optimizer"]
    for a, b in zip(full_opt, part_opt, strict=True):
        for k in a["state"]:
            assert torch.equal(a["state"][k]["exp_avg"], b["state"][k]["exp_avg"])
    # The log holds the terms of both phases under one header.
    with open(tmp_path / "part" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows][-1] == 4 and {"loss", "loss_2"} <= set(rows[0])


def test_same_seed_same_weights_whatever_the_workers(data, tmp_path):
    train(cfg("draem", data, tmp_path / "a", epochs=2))
    train(cfg("draem", data, tmp_path / "b", epochs=2, workers=2))
    assert_same_weights(tmp_path / "a" / MODEL_FILE, tmp_path / "b" / MODEL_FILE)
    train(cfg("draem", data, tmp_path / "c", epochs=2, seed=1))
    wa, wc = weights(tmp_path / "a" / MODEL_FILE), weights(tmp_path / "c" / MODEL_FILE)
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data, tmp_path, monkeypatch):
    from adsynth.zoo.methods.ae.model import AutoEncoder

    calls = {"n": 0}
    original = AutoEncoder.training_step

    def poisoned(self, batch):
        calls["n"] += 1
        out = original(self, batch)
        if calls["n"] > 4:  # epoch 1 has 3 steps; the loss turns NaN in epoch 2
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(AutoEncoder, "training_step", poisoned)
    with pytest.raises(TrainingError) as exc:
        train(cfg("ae", data, tmp_path / "run", log_every=1))
    msg = str(exc.value)
    assert (
        "\n" not in msg
        and "non-finite loss (nan)" in msg
        and "epoch 2" in msg
        and "model.pt (epoch 1)" in msg
    )
    ckpt = read_checkpoint(tmp_path / "run" / MODEL_FILE)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


def test_run_folder_rules(data, tmp_path):
    out = tmp_path / "run"
    train(cfg("ae", data, out, epochs=1))
    with pytest.raises(OutputExistsError, match="--overwrite"):
        train(cfg("ae", data, out, epochs=1))
    train(cfg("ae", data, out, epochs=1, overwrite=True))
    with pytest.raises(ConfigError, match="resume"):
        train(cfg("ae", data, tmp_path / "empty", resume=True))
    other = blob_dataset(tmp_path / "other.h5", n_train=6, n_test=1, size=32, seed=5)
    with pytest.raises(ConfigError, match="not the dataset"):
        train(cfg("ae", other, out, resume=True, epochs=2))
    with pytest.raises(ConfigError, match="batch_size"):
        train(cfg("ae", data, out, resume=True, epochs=2, batch_size=2))
    # Nothing left to do: resuming a finished run with the same epochs keeps the weights.
    before = weights(out / MODEL_FILE)
    r = train(TrainConfig(out=str(out), resume=True, device="cpu", workers=0, progress=False))
    assert r.epochs == 1
    after = weights(out / MODEL_FILE)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_checkpoint_contents(data, tmp_path):
    out = tmp_path / "run"
    train(cfg("ae", data, out, epochs=1))
    ckpt = torch.load(out / LAST_FILE, weights_only=True)
    assert ckpt["model"] == "ae" and ckpt["config"]["latent_dim"] == 8 and ckpt["config"]["channels"] == 1
    assert ckpt["data_fingerprint"] == data_fingerprint(data) and len(ckpt["data_fingerprint"]) == 64
    assert ckpt["train_config"]["batch_size"] == 4 and ckpt["train_config"]["seed"] == 0
    assert ckpt["adsynth_version"] and ckpt["epoch"] == 1 and ckpt["step"] == 3
    assert {"optimizer", "scheduler", "rng"} <= set(ckpt)
    slim = torch.load(out / MODEL_FILE, weights_only=True)
    assert "optimizer" not in slim and slim["metrics"]["loss"] > 0
    assert (out / "config.json").is_file()
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert rows and {"epoch", "step", "loss", "l2", "images_per_s", "lr"} <= set(rows[0])


def test_fit_mode_model(data, tmp_path):
    r = train(
        TrainConfig(
            model="padim",
            data=data,
            out=str(tmp_path / "run"),
            image_size=32,
            batch_size=8,
            workers=0,
            device="cpu",
            progress=False,
            hparams={"backbone": "resnet18", "pretrained": False, "layers": [1, 2]},
        )
    )
    assert r.epochs == 0
    ckpt = read_checkpoint(r.checkpoint)
    assert ckpt["fitted"] and ckpt["train_config"]["epochs"] == 0
    model = load_model(r.checkpoint)
    assert torch.isfinite(model.predict(torch.rand(2, 1, 32, 32)).score).all()


def test_predict_dataset_writes_the_maps_format(data, tmp_path):
    from adsynth.data.maps import read_maps

    r = train(cfg("ae", data, tmp_path / "run", epochs=1))
    out = tmp_path / "maps.h5"
    res = predict_dataset(r.checkpoint, data, out, batch_size=4, device="cpu")
    assert res.n == 6
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "adsynth-maps" and int(f.attrs["format_version"]) == 1
        assert f["maps"].shape == (6, 32, 32) and f["maps"].dtype == np.float32
        assert f["scores"].dtype == np.float32 and f["index"].dtype == np.int64
        assert f.attrs["model"] == "ae"
        index = f["index"][()]
    assert list(index) == list(range(10, 16))
    with read_maps(out) as maps:
        assert maps.names[0] == "test/good/000.png"
        amap, score = maps["test/blob/000.png"]
        assert amap.shape == (32, 32) and np.isfinite(score)
    with pytest.raises(OutputExistsError):
        predict_dataset(r.checkpoint, data, out, device="cpu")
    # A model object works as well as a checkpoint; maps are upsampled to the data resolution.
    big = blob_dataset(tmp_path / "big.h5", n_train=2, n_test=1, size=64)
    res = predict_dataset(load_model(r.checkpoint), big, out, overwrite=True, device="cpu")
    with h5py.File(out, "r") as f:
        assert f["maps"].shape == (2, 64, 64)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_resolve_device():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ConfigError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_online_synthesis_is_per_sample_and_per_epoch(data):
    from adsynth.zoo.data import ZooDataset

    ds = ZooDataset(data, 32, recipe=StandInRecipe(normal_fraction=0.0), seed=3, split="train")
    first = [ds[i]["aug_image"] for i in range(4)]
    again = [ds[i]["aug_image"] for i in (3, 2, 1, 0)][::-1]  # order of access does not matter
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    ds.set_epoch(1)
    item = ds[0]
    assert not torch.equal(item["aug_image"], first[0])  # fresh anomalies every epoch
    assert item["aug_mask"].shape == (1, 32, 32) and item["aug_label"] == 1
    assert set(item["aug_mask"].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(item["image"], ZooDataset(data, 32, split="train")[0]["image"])  # clean target


def test_the_draem_recipe_loads_and_synthesises():
    # The learning tests train DRAEM on this recipe: an error loading it must fail, not fall back.
    img = np.full((32, 32, 1), 128, np.uint8)
    results = [draem_recipe().apply(img, np.random.default_rng(i)) for i in range(8)]
    assert all(r.image.shape == img.shape and r.mask.shape == (32, 32) for r in results)
    assert any(r.label == 1 and r.mask.any() for r in results)

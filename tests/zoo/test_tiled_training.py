"""Tiled training (``train --crop``): windows at the photos' own resolution, seeded, resumable, masks
aligned, recorded in the checkpoint and used by ``predict --input`` (tiles by default)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from numpy.lib.stride_tricks import sliding_window_view
from skimage import data as skdata
from zoo_helpers import draem_recipe

from adsynth.data.images import fit, read_image
from adsynth.data.importers import import_dataset
from adsynth.errors import ConfigError
from adsynth.zoo.checkpoint import read_checkpoint
from adsynth.zoo.data import ZooDataset, photo_box, photo_pixels
from adsynth.zoo.trainer import TrainConfig, train

LOW = 60  # photo pixels are >= LOW: the importer's zero padding is recognisable


def _photos() -> dict[str, np.ndarray]:
    """Gray scikit-image photos of several sizes and aspects (1:2 to 2:1), pixel values in [LOW, 255]."""
    cam, coins = skdata.camera(), skdata.coins()
    crops = {
        "tall.png": cam[:300, 100:250],
        "wide.png": cam[200:320, :330],
        "coins.png": coins,
        "square.png": cam[50:250, 200:400],
    }
    return {k: (LOW + v.astype(np.float32) * (255 - LOW) / 255).astype(np.uint8) for k, v in crops.items()}


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    for name, img in _photos().items():
        cv2.imwrite(str(root / name), img)
    return root


@pytest.fixture(scope="module")
def padded(photo_dir, tmp_path_factory):
    """The photos imported at 320×400 keeping the aspect (``pad``): zero padding around each photo."""
    out = tmp_path_factory.mktemp("data") / "pad.h5"
    import_dataset(photo_dir, out, size=(320, 400), resize="pad", workers=1)
    return out


def _originals(ds: ZooDataset, photo_dir) -> list[np.ndarray]:
    return [read_image(photo_dir / ds.reader.names[i])[:, :, 0] for i in range(len(ds.reader))]


def _position(window: np.ndarray, photo: np.ndarray) -> tuple[int, int] | None:
    """Where ``window`` sits in ``photo`` (exact equality), or None."""
    s = window.shape[0]
    hits = np.argwhere((sliding_window_view(photo, (s, s)) == window).all(axis=(2, 3)))
    return tuple(int(v) for v in hits[0]) if len(hits) else None


@pytest.mark.parametrize("mode", ["pad", "stretch", "crop"])
def test_photo_box_inverts_the_import(mode):
    """The stored image brought back to the photo's size: no padding, close to the photo itself."""
    photo = _photos()["tall.png"][:, :, None]
    stored, _ = fit(photo, None, (320, 280), mode)
    box, size = photo_box(stored.shape[:2], photo.shape[:2], mode)
    back = photo_pixels(stored, box, size)
    if mode == "crop":  # the centre the import kept, at the photo's scale: part of the photo
        assert size[0] <= photo.shape[0] and size[1] <= photo.shape[1] and size[1] == photo.shape[1]
        return
    assert back.shape == photo.shape
    assert back.min() >= LOW - 2  # no zero padding inside the box
    assert np.abs(back.astype(int) - photo.astype(int)).mean() < 3.0
    # A photo stored at its own size (an import that kept the size) is used as it is.
    assert photo_box((300, 150), (300, 150), mode) == ((0, 0, 300, 150), (300, 150))


def test_windows_lie_inside_the_photo_at_its_resolution(padded, photo_dir):
    ds = ZooDataset(padded, 48, seed=3, split="train")
    ds.use_crops(3)
    assert len(ds) == 3 * len(ds.reader)
    photos = [photo_pixels(ds.reader.read_image(i), *ds.crops[i])[:, :, 0] for i in range(len(ds.reader))]
    for orig, photo in zip(_originals(ds, photo_dir), photos, strict=True):
        assert photo.shape == orig.shape  # the photo's own resolution, not the stored one
    positions = set()
    for j in range(len(ds)):
        win = (ds[j]["image"][0].numpy() * 255).round().astype(np.uint8)
        assert win.shape == (48, 48) and win.min() >= LOW - 2  # never the padding
        pos = _position(win, photos[j // 3])
        assert pos is not None
        positions.add((j // 3, pos))
    assert len(positions) > len(ds.reader)  # several windows per photo, at different places


def test_windows_are_seeded_and_new_each_epoch(padded):
    def windows(seed, epoch):
        ds = ZooDataset(padded, 48, seed=seed, split="train")
        ds.use_crops(2)
        ds.set_epoch(epoch)
        return torch.stack([ds[j]["image"] for j in range(len(ds))])

    a = windows(0, 0)
    assert torch.equal(a, windows(0, 0))
    assert not torch.equal(a, windows(0, 1))
    assert not torch.equal(a, windows(1, 0))


def test_synthetic_masks_are_made_on_the_window(padded):
    ds = ZooDataset(padded, 48, recipe=draem_recipe(), seed=0, split="train")
    ds.use_crops(2)
    n_defect = 0
    for j in range(len(ds)):
        item = ds[j]
        img, aug, mask = item["image"], item["aug_image"], item["aug_mask"]
        assert aug.shape == img.shape and mask.shape == (1, 48, 48)
        changed = (aug - img).abs().amax(0) > 1e-6
        assert not (changed & (mask[0] == 0)).any()  # every changed pixel is in the mask
        n_defect += int(mask.any())
        if mask.any():
            assert changed[mask[0] > 0].float().mean() > 0.5  # and the mask is where it changed
    assert n_defect > 0


def test_photos_smaller_than_the_window_are_refused(photo_dir, tmp_path):
    narrow = tmp_path / "narrow"
    narrow.mkdir()
    for name, img in _photos().items():
        cv2.imwrite(str(narrow / name), img)
    cv2.imwrite(str(narrow / "strip.png"), _photos()["wide.png"][:40])
    path = tmp_path / "narrow.h5"
    import_dataset(narrow, path, size=(320, 400), resize="pad", workers=1)
    ds = ZooDataset(path, 48, split="train")
    msg = r"1 of 5 training photos are smaller than the 48-px window.*strip.png.*40×330"
    with pytest.raises(ConfigError, match=msg) as e:
        ds.use_crops(1)
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="crop"):
        ZooDataset(path, 32, split="train").use_crops(0)
    with pytest.raises(ConfigError, match="crop"):
        TrainConfig(model="ae", crop=-1)


def _cfg(data, out, **kw) -> TrainConfig:
    base = dict(
        model="ae", data=str(data), out=str(out), epochs=2, batch_size=4, lr=1e-3, image_size=32,
        workers=0, seed=0, device="cpu", progress=False, crop=2, hparams={"latent_dim": 4},
    )  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_crop_training_resumes_exactly_and_is_recorded(padded, tmp_path):
    full = train(_cfg(padded, tmp_path / "full"))
    assert full.steps == 2 * 2  # 4 photos × 2 windows, batches of 4, 2 epochs
    train(_cfg(padded, tmp_path / "part", epochs=1))
    train(TrainConfig(out=str(tmp_path / "part"), resume=True, epochs=2, workers=0, progress=False))
    a, b = read_checkpoint(full.checkpoint), read_checkpoint(tmp_path / "part" / "model.pt")
    assert a["train_config"]["crop"] == 2 and b["train_config"]["crop"] == 2
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    with pytest.raises(ConfigError, match="crop"):
        train(TrainConfig(out=str(tmp_path / "part"), resume=True, epochs=3, crop=1, workers=0))
    whole = train(_cfg(padded, tmp_path / "whole", crop=None))
    assert read_checkpoint(whole.checkpoint)["train_config"]["crop"] == 0


def test_cli_tiled_training_then_tiled_prediction(padded, photo_dir, tmp_path):
    from adsynth.cli.main import cli

    runner = CliRunner()
    run = tmp_path / "run"
    args = ["train", "--model", "ae", "--data", str(padded), "--out", str(run), "--image-size", "32",
            "--crop", "2", "--epochs", "1", "--batch-size", "4", "--set", "latent_dim=4", "--workers", "0",
            "--device", "cpu", "--quiet"]  # fmt: skip
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    res = tmp_path / "res"
    r = runner.invoke(
        cli,
        ["predict", "--checkpoint", str(run / "model.pt"), "--input", str(photo_dir), "--out", str(res),
         "--save-maps", "--no-overlays", "--device", "cpu"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "--fit tile" in r.output and "warning" not in r.output
    for name, img in _photos().items():
        assert np.load(res / "maps" / f"{name}.npy").shape == img.shape  # the photo's own size
    r = runner.invoke(
        cli,
        ["predict", "--checkpoint", str(run / "model.pt"), "--input", str(photo_dir), "--out",
         str(tmp_path / "sq"), "--fit", "squash", "--no-overlays", "--device", "cpu", "--log-json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "warning: the model was trained on 32-px windows" in r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["fit"] == "squash"
    # A dataset is resized to the model's input, another scale than its windows: said, not silent.
    r = runner.invoke(
        cli,
        ["predict", "--checkpoint", str(run / "model.pt"), "--data", str(padded), "--split", "all",
         "--out", str(tmp_path / "maps.h5"), "--device", "cpu"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "warning: the model was trained on 32-px windows" in r.output and "--fit tile" in r.output
    assert (tmp_path / "maps.h5").exists()
    # An export remembers the tiled training: its photos are tiled by default too.
    onnx = tmp_path / "m.onnx"
    r = runner.invoke(cli, ["export-model", "--checkpoint", str(run / "model.pt"), "--out", str(onnx)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        cli,
        ["predict", "--checkpoint", str(onnx), "--input", str(photo_dir), "--out", str(tmp_path / "ox"),
         "--save-maps", "--no-overlays", "--log-json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["fit"] == "tile" and "warning" not in r.output
    for name, img in _photos().items():
        assert np.load(tmp_path / "ox" / "maps" / f"{name}.npy").shape == img.shape


def test_a_model_trained_on_a_letterboxed_import_is_letterboxed_at_prediction(padded, photo_dir, tmp_path):
    from adsynth.cli.main import cli
    from adsynth.zoo.deploy.inference import fit_for

    run = train(_cfg(padded, tmp_path / "run", crop=None, epochs=1))
    ckpt = read_checkpoint(run.checkpoint)
    assert ckpt["data_resize"] == "pad"
    assert fit_for(ckpt, None) == ("pad", None)
    assert "--fit pad matches" in fit_for(ckpt, "squash")[1]
    runner = CliRunner()
    res = tmp_path / "res"
    r = runner.invoke(
        cli,
        ["predict", "--checkpoint", str(run.checkpoint), "--input", str(photo_dir), "--out", str(res),
         "--save-maps", "--no-overlays", "--device", "cpu", "--log-json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1])["fit"] == "pad" and "warning" not in r.output
    for name, img in _photos().items():
        assert np.load(res / "maps" / f"{name}.npy").shape == img.shape
    onnx = tmp_path / "m.onnx"
    assert (
        runner.invoke(
            cli, ["export-model", "--checkpoint", str(run.checkpoint), "--out", str(onnx)]
        ).exit_code
        == 0
    )
    r = runner.invoke(
        cli,
        ["predict", "--checkpoint", str(onnx), "--input", str(photo_dir), "--out", str(tmp_path / "ox"),
         "--fit", "squash", "--no-overlays", "--log-json"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "letterboxed" in r.output and json.loads(r.stdout.strip().splitlines()[-1])["fit"] == "squash"


def test_a_generated_dataset_records_no_import_resize(tmp_path):
    from zoo_helpers import blob_dataset

    from adsynth.zoo.deploy.inference import fit_for

    data = blob_dataset(tmp_path / "b.h5", n_train=4, n_test=1, size=32)
    ckpt = read_checkpoint(train(_cfg(data, tmp_path / "run", crop=None, epochs=1)).checkpoint)
    assert ckpt["data_resize"] is None and fit_for(ckpt, None) == ("squash", None)

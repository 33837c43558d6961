"""New photos on the line: thresholds stored by calibrate, results folders from folders/globs/.h5."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from adsynth.cli.main import cli
from adsynth.errors import DataError
from adsynth.evaluate.metrics import f1_max
from adsynth.evaluate.thresholds import calibrate, f1_threshold, fpr_threshold


def test_fpr_threshold_flags_at_most_the_rate_with_ties():
    v = np.array([1.0, 2.0, 3.0, 3.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    for fpr, flagged in [(0.0, 0), (0.1, 1), (0.25, 2), (0.35, 3), (0.5, 5)]:
        t = fpr_threshold(v, fpr)
        assert int((v >= t).sum()) <= flagged
    # Ties: 0.5 allows 5, but the 5th and 6th..8th largest tie at 3.0 and can only go together.
    assert int((v >= fpr_threshold(v, 0.5)).sum()) == 5
    assert int((v >= fpr_threshold(v, 0.45)).sum()) == 4


def test_f1_threshold_matches_f1_max():
    rng = np.random.default_rng(0)
    y = rng.random(300) < 0.3
    s = rng.normal(size=300) + y * 1.2
    f1, t = f1_threshold(s, y)
    assert f1 == pytest.approx(float(f1_max(s, y.astype(int))))
    pred = s >= t
    tp = (pred & y).sum()
    assert 2 * tp / (pred.sum() + y.sum()) == pytest.approx(f1)
    with pytest.raises(DataError):
        f1_threshold(s, np.zeros(300))
    out = calibrate(s, y.astype(int), fpr=0.05)
    assert out["pixel"] is None and (s[~y] >= out["image"]).mean() <= 0.05


@pytest.fixture
def run(tmp_path):
    """A trained ae checkpoint (32 px, RGB) and its training dataset."""
    from adsynth.data import DatasetWriter
    from adsynth.zoo.trainer import TrainConfig, train

    rng = np.random.default_rng(0)
    data = tmp_path / "d.h5"
    with DatasetWriter(data, height=32, width=32, channels=3, seed=0) as w:
        for i in range(8):
            w.append(rng.integers(90, 150, (32, 32, 3), dtype=np.uint8), name=f"train/{i}.png")
        for i in range(4):
            img = rng.integers(90, 150, (32, 32, 3), dtype=np.uint8)
            mask = np.zeros((32, 32), np.uint8)
            if i >= 2:
                img[8:20, 8:20] = 255
                mask[8:20, 8:20] = 1
            w.append(img, mask, label=int(i >= 2), defect_type="spot" if i >= 2 else "good", split="val",
                     name=f"val/{i}.png")  # fmt: skip
    cfg = TrainConfig(model="ae", data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=4,
                      image_size=32, device="cpu", workers=0, hparams={"latent_dim": 8},
                      progress=False)  # fmt: skip
    train(cfg)
    return tmp_path / "run" / "model.pt", data


def _photos(folder, sizes):
    import cv2

    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for i, (h, w, c) in enumerate(sizes):
        img = rng.integers(90, 150, (h, w, c), dtype=np.uint8)
        img[h // 3 : h // 2, w // 3 : w // 2] = 255
        assert cv2.imwrite(str(folder / f"p{i}.png"), img if c == 3 else img[:, :, 0])


def test_calibrate_then_predict_new_photos(run, tmp_path):
    ckpt, data = run
    runner = CliRunner()
    r = runner.invoke(cli, ["calibrate", "--checkpoint", str(ckpt), "--data", str(data), "--split", "train",
                            "--fpr", "0.25", "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 0, r.output
    t = torch.load(ckpt, weights_only=True)["thresholds"]
    assert t["n_normal"] == 8 and t["rule"].startswith("fpr") and t["pixel"] is not None

    photos = tmp_path / "photos"
    _photos(photos / "line1", [(48, 120, 3), (64, 64, 1)])  # non-square RGB, square gray
    out = tmp_path / "results"
    args = ["predict", "--checkpoint", str(ckpt), "--input", str(photos), "--out", str(out),
            "--device", "cpu", "--save-maps", "--batch-size", "3"]  # fmt: skip
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(x["name"], x["height"], x["width"]) for x in rows] == [
        ("line1/p0.png", "48", "120"),
        ("line1/p1.png", "64", "64"),
    ]
    assert all(x["decision"] in ("normal", "anomalous") for x in rows)
    assert np.load(out / "maps" / "line1" / "p0.png.npy").shape == (48, 120)
    assert (out / "overlays" / "line1" / "p1.png.png").is_file()
    regions = [json.loads(ln) for ln in (out / "regions.jsonl").read_text().splitlines()]
    assert [len(x["regions"]) for x in regions] == [int(x["regions"]) for x in rows]
    for reg in regions[0]["regions"]:
        assert 0 <= reg["x"] < 120 and 0 <= reg["y"] < 48 and reg["area"] >= 1

    # Existing results: refused, then resumed: only the new photo is scored.
    assert runner.invoke(cli, args).exit_code == 2
    _photos(photos / "line2", [(30, 30, 3)])
    r = runner.invoke(cli, [*args, "--resume"])
    assert r.exit_code == 0 and "2 already done" in r.output, r.output
    with open(out / "results.csv", newline="") as f:
        assert [x["name"] for x in csv.DictReader(f)] == ["line1/p0.png", "line1/p1.png", "line2/p0.png"]

    # A glob and a dataset work too; explicit thresholds override the stored ones.
    r = runner.invoke(cli, ["predict", "--checkpoint", str(ckpt), "--input", str(photos / "line1" / "*.png"),
                            "--out", str(tmp_path / "g"), "--device", "cpu", "--image-threshold", "-1e9",
                            "--no-overlays"])  # fmt: skip
    assert r.exit_code == 0 and "flagged 2 of 2" in r.output, r.output
    assert not (tmp_path / "g" / "overlays").exists()
    r = runner.invoke(cli, ["predict", "--checkpoint", str(ckpt), "--input", str(data), "--out",
                            str(tmp_path / "h"), "--device", "cpu", "--no-overlays"])  # fmt: skip
    assert r.exit_code == 0 and "12 images" in r.output, r.output


def test_calibrate_f1_on_defects_and_bad_input(run, tmp_path):
    ckpt, data = run
    runner = CliRunner()
    r = runner.invoke(cli, ["calibrate", "--checkpoint", str(ckpt), "--data", str(data), "--device", "cpu"])
    assert r.exit_code == 0 and "f1-max" in r.output, r.output
    t = torch.load(ckpt, weights_only=True)["thresholds"]
    assert t["n_anomalous"] == 2 and 0 < t["image_f1"] <= 1 and t["split"] == "val"
    # Normal images only cannot give an F1 threshold; a missing input is one line.
    r = runner.invoke(cli, ["calibrate", "--checkpoint", str(ckpt), "--data", str(data), "--split", "train",
                            "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 1 and "F1 needs both" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["predict", "--checkpoint", str(ckpt), "--input", str(tmp_path / "none"),
                            "--out", str(tmp_path / "o")])  # fmt: skip
    assert r.exit_code == 1 and "none" in r.output and not (tmp_path / "o").exists()
    r = runner.invoke(cli, ["predict", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "exactly one of --data" in r.output


def test_names_cannot_leave_the_results_folder(tmp_path):
    from adsynth.zoo.deploy.inference import _inside

    assert _inside(tmp_path, "maps", "a/b.png", ".npy") == tmp_path / "maps" / "a" / "b.png.npy"
    for bad in ("../x.png", "/etc/x.png", "a/../../x.png"):
        with pytest.raises(DataError, match="outside"):
            _inside(tmp_path, "maps", bad, ".npy")


def test_predict_without_a_threshold_says_so(run, tmp_path):
    ckpt, _ = run  # not calibrated
    _photos(tmp_path / "photos", [(32, 32, 3), (40, 40, 3)])
    out = tmp_path / "results"
    args = ["predict", "--checkpoint", str(ckpt), "--input", str(tmp_path / "photos"), "--out", str(out),
            "--device", "cpu", "--no-overlays"]  # fmt: skip
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "flagged" not in r.output and "no image threshold set" in r.output, r.output
    assert "adsynth calibrate" in r.output and "--image-threshold" in r.output, r.output
    with open(out / "results.csv", newline="") as f:
        assert [x["decision"] for x in csv.DictReader(f)] == ["", ""]
    r = CliRunner().invoke(cli, [*args, "--log-json", "--overwrite"])
    result = json.loads(r.output.splitlines()[-1])
    assert result["flagged"] is None and result["image_threshold"] is None, r.output

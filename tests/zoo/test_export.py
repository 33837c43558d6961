"""ONNX / OpenVINO export: outputs match PyTorch, metadata travel, predict runs the exported file."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from adsynth.cli.main import cli


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny trained checkpoints: a fitted feature model, a reconstruction AE and DRAEM."""
    from adsynth.data import DatasetWriter
    from adsynth.zoo.trainer import TrainConfig, train

    tmp = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(0)
    data = tmp / "d.h5"
    with DatasetWriter(data, height=32, width=32, channels=3, seed=0) as w:
        for i in range(6):
            w.append(rng.integers(90, 150, (32, 32, 3), dtype=np.uint8), name=f"train/{i}.png")
    out = {}
    for name, hp in [
        ("padim", {"backbone": "resnet18", "pretrained": False}),
        ("patchcore", {"backbone": "resnet18", "pretrained": False}),
        ("ae", {"latent_dim": 8}),
        ("draem", {"base_width": 4}),
    ]:
        cfg = TrainConfig(model=name, data=str(data), out=str(tmp / name), epochs=1, batch_size=3,
                          image_size=32, device="cpu", workers=0, hparams=hp, progress=False)  # fmt: skip
        train(cfg)
        out[name] = tmp / name / "model.pt"
    return out, data


@pytest.mark.parametrize("name", ["padim", "patchcore", "ae", "draem"])
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_export_matches_pytorch(runs, name, fmt, tmp_path):
    import torch

    from adsynth.zoo.checkpoint import load_model
    from adsynth.zoo.deploy.export import export_model, load_exported

    ckpts, _ = runs
    path = tmp_path / ("m.onnx" if fmt == "onnx" else "m.xml")
    r = export_model(ckpts[name], path)
    assert r["format"] == fmt and path.is_file()
    exported, model = load_exported(path), load_model(ckpts[name])
    assert (exported.name, exported.image_size, exported.channels) == (name, 32, 3)
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))  # another batch size
    with torch.no_grad():
        ref = model.predict(x)
    got = exported.predict(x)
    scale = float(ref.anomaly_map.abs().max())
    assert float((got.anomaly_map - ref.anomaly_map).abs().max()) <= 1e-3 * scale + 1e-4
    assert float((got.score - ref.score).abs().max()) <= 1e-3 * float(ref.score.abs().max()) + 1e-4
    with pytest.raises(Exception, match="--overwrite"):
        export_model(ckpts[name], path)


def test_exported_model_carries_thresholds_and_runs_in_predict(runs, tmp_path):
    import cv2

    ckpts, data = runs
    runner = CliRunner()
    r = runner.invoke(cli, ["calibrate", "--checkpoint", str(ckpts["padim"]), "--data", str(data),
                            "--split", "train", "--fpr", "0.2", "--device", "cpu"])  # fmt: skip
    assert r.exit_code == 0, r.output
    onnx_file = tmp_path / "padim.onnx"
    r = runner.invoke(cli, ["export-model", "--checkpoint", str(ckpts["padim"]), "--out", str(onnx_file)])
    assert r.exit_code == 0 and "max |difference|" in r.output, r.output
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(2)
    for i in range(3):
        assert cv2.imwrite(str(photos / f"{i}.png"), rng.integers(0, 255, (40, 70, 3), dtype=np.uint8))
    rows = {}
    for ckpt, out in ((ckpts["padim"], tmp_path / "r_pt"), (onnx_file, tmp_path / "r_onnx")):
        args = ["predict", "--checkpoint", str(ckpt), "--input", str(photos), "--out", str(out)]
        r = runner.invoke(cli, [*args, "--no-overlays", "--device", "cpu"])
        assert r.exit_code == 0, r.output
        with open(out / "results.csv", newline="") as f:
            rows[out.name] = list(csv.DictReader(f))
    pt, ox = rows["r_pt"], rows["r_onnx"]
    assert [x["decision"] for x in pt] == [x["decision"] for x in ox] and all(x["decision"] for x in ox)
    for a, b in zip(pt, ox, strict=True):
        assert float(a["score"]) == pytest.approx(float(b["score"]), rel=1e-3, abs=1e-4)


def test_export_errors_are_clear(runs, tmp_path):
    ckpts, _ = runs
    r = CliRunner().invoke(cli, ["export-model", "--checkpoint", str(tmp_path / "none.pt"), "--out",
                                 str(tmp_path / "x.onnx")])  # fmt: skip
    assert r.exit_code == 1 and "none.pt" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["predict", "--checkpoint", str(tmp_path / "none.onnx"), "--input",
                                 str(tmp_path), "--out", str(tmp_path / "o")])  # fmt: skip
    assert r.exit_code == 1 and "none.onnx" in r.output

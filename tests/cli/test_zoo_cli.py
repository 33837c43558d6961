"""``adsynth train``, ``adsynth predict`` and ``adsynth models`` through click's CliRunner."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from adsynth.cli.main import cli


@pytest.fixture
def tiny(tmp_path):
    from adsynth.data import DatasetWriter

    path = tmp_path / "tiny.h5"
    rng = np.random.default_rng(0)
    with DatasetWriter(path, height=32, width=32, channels=3, seed=0) as w:
        for i in range(8):
            img = rng.integers(80, 160, (32, 32, 3), dtype=np.uint8)
            mask = np.zeros((32, 32), np.uint8)
            split, label = ("train", 0) if i < 5 else ("test", int(i == 7))
            if label:
                img[8:16, 8:16] = 255
                mask[8:16, 8:16] = 1
            w.append(
                img,
                mask,
                label=label,
                defect_type="spot" if label else "good",
                split=split,
                name=f"{split}/{i:03d}.png",
            )
    return path


@pytest.mark.parametrize("command", ["train", "predict", "models"])
def test_help(command):
    r = CliRunner().invoke(cli, [command, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output


def test_models_table_and_json():
    r = CliRunner().invoke(cli, ["models"])
    assert r.exit_code == 0, r.output
    assert "| draem | self-supervised | gradient | no | draem |" in r.output
    rows = json.loads(CliRunner().invoke(cli, ["models", "--json"]).output)
    names = {row["name"] for row in rows}
    assert {"ae", "vae", "draem"} <= names
    assert all({"family", "paper", "needs_pretrained", "fit_mode"} <= set(row) for row in rows)


def test_train_predict_resume(tiny, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = [
        "train",
        "--model",
        "ae",
        "--data",
        str(tiny),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--image-size",
        "32",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--set",
        "latent_dim=8",
        "--set",
        "loss=l2+ssim",
    ]
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "trained for 1 epochs" in r.output and "model.pt" in r.output
    import torch

    ckpt = torch.load(out / "model.pt", weights_only=True)
    assert ckpt["config"]["latent_dim"] == 8 and ckpt["config"]["loss"] == "l2+ssim"

    # An existing run is refused (exit 2, one line), replaced with --overwrite, continued with --resume.
    r = runner.invoke(cli, args)
    assert r.exit_code == 2 and "--overwrite" in r.output and r.output.count("\n") == 1
    assert runner.invoke(cli, [*args, "--overwrite"]).exit_code == 0
    r = runner.invoke(
        cli, ["train", "--out", str(out), "--resume", "--epochs", "2", "--device", "cpu", "--workers", "0"]
    )
    assert r.exit_code == 0, r.output
    assert "trained for 2 epochs" in r.output

    maps = tmp_path / "maps.h5"
    r = runner.invoke(
        cli,
        [
            "predict",
            "--checkpoint",
            str(out / "model.pt"),
            "--data",
            str(tiny),
            "--out",
            str(maps),
            "--device",
            "cpu",
            "--batch-size",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "3 maps" in r.output
    with h5py.File(maps, "r") as f:
        assert f["maps"].shape == (3, 32, 32) and f.attrs["format"] == "adsynth-maps"
    r = runner.invoke(
        cli,
        [
            "predict",
            "--checkpoint",
            str(out / "model.pt"),
            "--data",
            str(tiny),
            "--out",
            str(maps),
            "--split",
            "all",
            "--overwrite",
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0 and "8 maps" in r.output


def test_user_errors_are_one_line(tiny, tmp_path):
    runner = CliRunner()
    cases = [
        (["train", "--model", "nope", "--data", str(tiny), "--out", str(tmp_path / "a")], 2, "unknown model"),
        (
            [
                "train",
                "--model",
                "ae",
                "--data",
                str(tiny),
                "--out",
                str(tmp_path / "b"),
                "--set",
                "nope=1",
                "--device",
                "cpu",
            ],
            2,
            "no hyper-parameter 'nope'",
        ),
        (
            ["train", "--model", "ae", "--data", str(tiny), "--out", str(tmp_path / "c"), "--set", "novalue"],
            2,
            "KEY=VALUE",
        ),
        (["train", "--model", "ae", "--out", str(tmp_path / "d")], 2, "--data"),
        (["train", "--out", str(tmp_path / "e"), "--resume"], 2, "cannot resume"),
        (
            [
                "train",
                "--model",
                "ae",
                "--data",
                str(tmp_path / "missing.h5"),
                "--out",
                str(tmp_path / "f"),
                "--device",
                "cpu",
            ],
            1,
            "missing.h5",
        ),
        (
            [
                "predict",
                "--checkpoint",
                str(tmp_path / "none.pt"),
                "--data",
                str(tiny),
                "--out",
                str(tmp_path / "m.h5"),
            ],
            1,
            "none.pt",
        ),
    ]
    for args, code, text in cases:
        r = runner.invoke(cli, args)
        assert r.exit_code == code, (args, r.output)
        assert text in r.output, (args, r.output)
        assert "Traceback" not in r.output


def test_backbones_lists_bundled_and_cached_weights(tmp_path, monkeypatch):

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    snap = tmp_path / "hf" / "models--timm--resnet18.a1_in1k" / "snapshots" / ("0" * 40)
    snap.mkdir(parents=True)
    (snap / "model.safetensors").write_bytes(b"x" * 1000)
    r = CliRunner().invoke(cli, ["backbones", "--json"])
    assert r.exit_code == 0, r.output
    rows = {row["backbone"]: row for row in json.loads(r.output)}
    assert rows["tf_efficientnet_lite0"]["installed"] and rows["tf_efficientnet_lite0"]["source"] == "bundled"
    assert rows["resnet18.a1_in1k"]["source"] == "timm cache"
    table = CliRunner().invoke(cli, ["backbones"]).output
    assert "tf_efficientnet_lite0 (default)" in table and "resnet18.a1_in1k" in table


def test_yaml_recipe_naming_a_checkpoint_runs_in_generate_and_train(tiny, tmp_path):
    """An ognet recipe entry with a reconstruction checkpoint works offline (2 workers) and online."""
    runner = CliRunner()
    common = ["--device", "cpu", "--workers", "0", "--epochs", "1", "--batch-size", "4", "--image-size", "32"]
    ae = tmp_path / "ae"
    r = runner.invoke(cli, ["train", "--model", "ae", "--data", str(tiny), "--out", str(ae), *common])
    assert r.exit_code == 0, r.output
    recipe = tmp_path / "ognet.yaml"
    recipe.write_text(
        "name: ognet-ae\nnormal_fraction: 0.0\n"
        f"generators:\n  - name: ognet\n    params: {{checkpoint: {ae / 'model.pt'}}}\n"
    )
    outputs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"gen{workers}.h5"
        args = [
            "generate",
            "--recipe",
            str(recipe),
            "--input",
            str(tiny),
            "--out",
            str(out),
            "--workers",
            workers,
        ]
        r = runner.invoke(cli, args)
        assert r.exit_code == 0, r.output
        with h5py.File(out, "r") as f:
            outputs[workers] = (f["images"][()], f["masks"][()])
            assert int(f["labels"][()].sum()) > 0
    assert np.array_equal(outputs["1"][0], outputs["2"][0]) and np.array_equal(
        outputs["1"][1], outputs["2"][1]
    )

    run = tmp_path / "draem"
    r = runner.invoke(
        cli,
        [
            "train",
            "--model",
            "draem",
            "--data",
            str(tiny),
            "--out",
            str(run),
            "--recipe",
            str(recipe),
            *common,
            "--set",
            "base_width=4",
        ],
    )
    assert r.exit_code == 0, r.output

"""Issue 28, item 5: training defaults that do not surprise.

A model's resolution defaults to its own default capped at the dataset's image size (and the CLI says
which it used), a fit-only model reports what it fitted and writes no duplicate ``last.pt``, and
``config.json`` tells where the backbone weights came from.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "zoo"))
from zoo_helpers import blob_dataset  # noqa: E402

from adsynth.cli.main import cli  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return blob_dataset(tmp_path_factory.mktemp("d") / "d.h5", n_train=8, n_test=2)  # 64-px images


def test_fit_only_model_at_the_dataset_size_without_last_pt(data, tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", "--model", "padim", "--data", data, "--out", str(out), "--workers",
                                 "0", "--device", "cpu", "--quiet"])  # fmt: skip
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train_config"]["image_size"] == 64  # not padim's 256
    assert (out / "model.pt").is_file() and not (out / "last.pt").exists()
    assert cfg["backbone_weights"]["pretrained"] is True
    assert cfg["backbone_weights"]["source"].startswith("bundled:")

    again = CliRunner().invoke(cli, ["train", "--out", str(out), "--resume"])
    assert again.exit_code != 0 and "as a fit-only model leaves it" in again.output


def test_the_cli_says_which_resolution(data, tmp_path):
    r = CliRunner().invoke(cli, ["train", "--model", "padim", "--data", data, "--out", str(tmp_path / "r"),
                                 "--workers", "0", "--device", "cpu", "--set", "pretrained=false",
                                 "--backbone", "resnet18"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "fitted on 8 images at 64 px" in r.output and "trained for 0 epochs" not in r.output
    assert "resolution: 64 px, the model's default capped at the dataset's image size" in r.output


def test_an_explicit_size_wins(data, tmp_path):
    r = CliRunner().invoke(cli, ["train", "--model", "padim", "--data", data, "--out", str(tmp_path / "r"),
                                 "--workers", "0", "--device", "cpu", "--image-size", "32", "--set",
                                 "pretrained=false", "--backbone", "resnet18"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "at 32 px" in r.output and "resolution:" not in r.output

"""A fit-only model reports what it fitted, not "trained for 0 epochs (0 steps)" (issue 28, item 5)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from adsynth.cli.main import cli


def test_fit_only_model_reports_what_it_fitted(noise_dataset, tmp_path):
    args = ["train", "--model", "padim", "--data", str(noise_dataset), "--out", str(tmp_path / "run")]
    args += ["--image-size", "32", "--device", "cpu", "--workers", "0", "--no-pretrained"]
    args += ["--set", "backbone=resnet18", "--set", "layers=[1, 2]"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("fitted on 6 images at 32 px in "), r.stdout
    assert "0 epochs" not in r.stdout
    r = CliRunner().invoke(cli, [*args, "--overwrite", "--log-json"])
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["fitted_images"] == 6 and result["image_size"] == 32 and result["epochs"] == 0

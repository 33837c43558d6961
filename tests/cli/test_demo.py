"""``adsynth demo``: the README's main job runs end to end offline and prints the per-type table."""

from __future__ import annotations

import json

from click.testing import CliRunner

from adsynth.cli.main import cli


def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", "--out", str(out), "--size", "64", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "| all |" in r.output and "| cutpaste |" in r.output
    m = json.loads((out / "report" / "metrics.json").read_text())
    overall = {row["defect_type"]: row for row in m["rows"]}["all"]["metrics"]
    # random-init features on brick texture still separate the synthetic defects clearly
    assert overall["image_auroc"] > 0.7 and overall["pixel_auroc"] > 0.7
    r = CliRunner().invoke(cli, ["demo", "--out", str(out), "--size", "64"])
    assert r.exit_code == 2 and "--overwrite" in r.output

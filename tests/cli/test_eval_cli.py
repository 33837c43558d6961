"""``adsynth eval`` on maps files and folders of maps."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from adsynth.cli.main import cli
from adsynth.data import DatasetReader
from adsynth.data.maps import write_maps


def _perfect_maps(ds):
    return np.stack([ds.read_mask(i).astype(np.float32) + 0.01 * i for i in range(len(ds))])


def test_eval_maps_file(tmp_path, tiny_dataset):
    ds = DatasetReader(tiny_dataset, split="test")
    write_maps(tmp_path / "maps.h5", _perfect_maps(ds), np.full(len(ds), np.nan), ds.names, ds.indices)
    out = tmp_path / "report"
    r = CliRunner().invoke(
        cli, ["eval", "--maps", str(tmp_path / "maps.h5"), "--data", str(tiny_dataset), "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "| crack | 2 | 2 |" in r.output
    m = json.loads((out / "metrics.json").read_text())
    row = {x["defect_type"]: x for x in m["rows"]}["crack"]
    assert row["metrics"]["pixel_auroc"] == 1.0 and row["metrics"]["aupro"] == 1.0
    for f in ("metrics.md", "metrics.csv", "per_image.csv", "roc.png", "pro.png"):
        assert (out / f).stat().st_size > 0
    r = CliRunner().invoke(
        cli, ["eval", "--maps", str(tmp_path / "maps.h5"), "--data", str(tiny_dataset), "--out", str(out)]
    )
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_eval_maps_folder_and_bad_input(tmp_path, tiny_dataset):
    ds = DatasetReader(tiny_dataset, split="test")
    d = tmp_path / "maps"
    d.mkdir()
    maps = _perfect_maps(ds)
    for name, m in zip(ds.names, maps, strict=True):
        np.save(d / (name.rsplit(".", 1)[0] + ".npy"), m)
    r = CliRunner().invoke(
        cli, ["eval", "--maps", str(d), "--data", str(tiny_dataset), "--out", str(tmp_path / "r")]
    )
    assert r.exit_code == 0, r.output
    bad = maps.copy()
    bad[1, 0, 0] = np.nan
    np.save(d / (ds.names[1].rsplit(".", 1)[0] + ".npy"), bad[1])
    r = CliRunner().invoke(
        cli, ["eval", "--maps", str(d), "--data", str(tiny_dataset), "--out", str(tmp_path / "r2")]
    )
    assert r.exit_code == 1 and ds.names[1].rsplit(".", 1)[0] in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["eval", "--data", str(tiny_dataset), "--out", str(tmp_path / "r3")])
    assert r.exit_code == 2 and "--maps" in r.output

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


def test_eval_refuses_maps_of_another_data_file(tmp_path, tiny_dataset):
    import shutil

    import h5py

    from adsynth.zoo.checkpoint import data_fingerprint  # where predict takes it from

    ds = DatasetReader(tiny_dataset, split="test")
    maps = tmp_path / "maps.h5"
    write_maps(maps, _perfect_maps(ds), np.full(len(ds), np.nan), ds.names, ds.indices,
               attrs={"data_fingerprint": data_fingerprint(tiny_dataset)})  # fmt: skip
    other = tmp_path / "other.h5"  # the same sample names, another seed
    shutil.copyfile(tiny_dataset, other)
    with h5py.File(other, "r+") as f:
        f.attrs["seed"] = "1"
    copy = tmp_path / "copy.h5"  # the same data under another name
    shutil.copyfile(tiny_dataset, copy)

    def run(data, *extra):
        out = tmp_path / f"report-{data.stem}-{len(extra)}"
        args = ["eval", "--maps", str(maps), "--data", str(data), "--out", str(out), *extra]
        return CliRunner().invoke(cli, args)

    r = run(other)
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert str(maps) in r.output and str(other) in r.output and "--allow-other-data" in r.output
    assert not (tmp_path / "report-other-0").exists()
    assert run(other, "--allow-other-data").exit_code == 0
    assert run(tiny_dataset).exit_code == 0 and run(copy).exit_code == 0

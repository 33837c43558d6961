"""Benchmark runs: a killed cell is redone on --resume (finished cells are kept); shards + merge equal
an unsharded run; the toy run's transfer matrix has the expected shape and values."""

from __future__ import annotations

import csv
import json
import math

import pytest
from bench_helpers import tiny_config, tiny_dataset
from click.testing import CliRunner

from adsynth.benchmark import build_config, merge, run_benchmark
from adsynth.benchmark.results import RESULT_COLUMNS
from adsynth.errors import OutputExistsError


def _read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("bench") / "tiny.h5")


@pytest.fixture(scope="module")
def full_run(data, tmp_path_factory):
    """The unsharded run of the tiny config (8 cells)."""
    out = tmp_path_factory.mktemp("full")
    cfg = build_config(tiny_config(data), out=out)
    summary = run_benchmark(cfg, out)
    assert len(summary.ran) == 8 and not summary.failed
    return out, cfg


def test_killed_cell_is_redone_and_finished_cells_kept(data, tmp_path, monkeypatch):
    import adsynth.zoo.deploy.predict as zp

    raw = tiny_config(data, models={"smai": {"hparams": {"base_width": 4}}}, seeds=[0])
    cfg = build_config(raw, out=tmp_path)
    real = zp.predict_dataset
    calls = []

    def killed_on_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is killed after the 2nd cell trained, before it finished
        return real(*a, **k)

    monkeypatch.setattr(zp, "predict_dataset", killed_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg, tmp_path)
    monkeypatch.setattr(zp, "predict_dataset", real)
    first, second = (tmp_path / "cells" / c.id for c in cfg.cells())
    assert (first / "cell.json").is_file()
    assert (second / "run" / "model.pt").is_file() and not (second / "cell.json").exists()
    assert (second / "run" / "last.pt").is_file()  # the killed cell's training state is still there
    # a finished cell keeps its model but not the training state (most of its size; never resumed)
    assert (first / "run" / "model.pt").is_file() and not (first / "run" / "last.pt").exists()
    (second / "run" / "stale-marker").write_text("from the killed run")
    before = (first / "cell.json").stat().st_mtime_ns

    with pytest.raises(OutputExistsError, match="--resume"):
        run_benchmark(cfg, tmp_path)
    s = run_benchmark(cfg, tmp_path, resume=True)
    assert s.kept == [cfg.cells()[0].id] and s.ran == [cfg.cells()[1].id]
    assert (first / "cell.json").stat().st_mtime_ns == before
    assert (second / "cell.json").is_file() and not (second / "run" / "stale-marker").exists()
    rows = _read(tmp_path / "results.csv")
    assert {r["cell"] for r in rows} == {c.id for c in cfg.cells()}
    # a resumed run changes nothing more
    assert run_benchmark(cfg, tmp_path, resume=True).ran == []


def test_shards_and_merge_equal_the_unsharded_run(full_run, data, tmp_path):
    out, cfg = full_run
    sharded = tmp_path / "sharded"
    for i in (1, 2):  # one after the other, as array jobs would on one shared folder
        s = run_benchmark(build_config(tiny_config(data), out=sharded), sharded, shard=f"{i}/2")
        assert len(s.ran) == 4
    assert not (sharded / "results.csv").exists()
    r = merge([sharded], sharded)
    assert r.finished == 8 and not r.missing
    a, b = _read(out / "results.csv"), _read(sharded / "results.csv")
    assert len(a) == 8 * 3 * 6  # cells × (2 defect types + all) × 6 metrics
    assert [[row[k] for k in RESULT_COLUMNS] for row in a] == [[row[k] for k in RESULT_COLUMNS] for row in b]
    for name in (
        "matrix/tiny_pixel_auroc.csv",
        "ranking/tiny_aupro.csv",
        "ranking/tiny_image_auroc_by_recipe.csv",
    ):
        assert (out / name).read_bytes() == (sharded / name).read_bytes(), name
    assert json.loads((out / "results.json").read_text())["config_hash"] == cfg.hash()


def test_merge_refuses_missing_cells_unless_partial(data, tmp_path):
    from adsynth.cli.main import cli
    from adsynth.errors import DataError

    raw = tiny_config(data, models={"smai": {"hparams": {"base_width": 4}}}, recipes=["noise"])
    run_benchmark(build_config(raw, out=tmp_path), tmp_path, shard="1/2")
    with pytest.raises(DataError, match="1 of 2 cells are not finished"):
        merge([tmp_path], tmp_path)
    r = CliRunner().invoke(
        cli, ["benchmark", "merge", str(tmp_path), "--out", str(tmp_path / "m"), "--partial"]
    )
    assert r.exit_code == 0, r.output
    assert "1 of 2 cells merged" in r.output
    assert "Not finished" in (tmp_path / "m" / "summary.md").read_text()


def test_toy_run_matrix_shape_and_values(full_run):
    out, cfg = full_run
    rows = _read(out / "results.csv")
    mat = _read(out / "matrix" / "tiny_pixel_auroc.csv")
    # rows: each synthetic model's recipes, then the mean of the models; columns: defect types + all
    assert [(m["model"], m["recipe"]) for m in mat] == [
        (model, rec) for model in ("smai", "draem", "mean of models") for rec in ("cutpaste-scar", "noise")
    ]
    assert list(mat[0]) == [
        "model",
        "recipe",
        "n_seeds",
        "bright",
        "dark",
        "all",
        "bright_sd",
        "dark_sd",
        "all_sd",
    ]
    for m in mat:
        for t in ("bright", "dark", "all"):

            def value(model, seed, t=t, m=m):
                key = (model, m["recipe"], t, "pixel_auroc", str(seed))
                return [
                    float(r["value"])
                    for r in rows
                    if (r["model"], r["recipe"], r["defect_type"], r["metric"], r["seed"]) == key
                ]

            if m["model"] == "mean of models":
                per_seed = [(value("smai", s)[0] + value("draem", s)[0]) / 2 for s in (0, 1)]
            else:
                per_seed = value(m["model"], 0) + value(m["model"], 1)
            assert len(per_seed) == 2 and m["n_seeds"] == "2"
            mean = sum(per_seed) / 2
            assert math.isclose(float(m[t]), mean, rel_tol=1e-12, abs_tol=1e-12)
            assert math.isclose(
                float(m[f"{t}_sd"]), abs(per_seed[0] - per_seed[1]) / math.sqrt(2), abs_tol=1e-12
            )
    assert (out / "matrix" / "tiny_pixel_auroc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "matrix" / "tiny_aupro.md").read_text()
    assert "real defect types" in md and "| cutpaste-scar |" in md
    summary = (out / "summary.md").read_text()
    assert "8 of 8 cells finished" in summary and "Ranking: tiny, pixel_auroc" in summary


def test_minutes_budget_times_one_epoch_then_resumes(data, tmp_path):
    raw = tiny_config(data, models={"smai": {"hparams": {"base_width": 4}}}, recipes=["noise"], seeds=[0])
    raw["budget"] = {"minutes": 0.02}
    cfg = build_config(raw, out=tmp_path)
    run_benchmark(cfg, tmp_path)
    rec = json.loads((tmp_path / "cells" / cfg.cells()[0].id / "cell.json").read_text())
    epochs = [int(r["epoch"]) for r in _read(tmp_path / "cells" / cfg.cells()[0].id / "run" / "metrics.csv")]
    assert rec["epochs"] >= 1 and max(epochs) == rec["epochs"]
    assert rec["timings"]["train_s"] < 60


def test_a_cell_trains_on_a_recipe_file(data, tmp_path):
    """A recipe given as a YAML file reaches the trainer as that file (its content is what the hash keeps)."""
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("name: mine\ngenerators:\n  - name: noise\n")
    raw = tiny_config(data, models={"smai": {"hparams": {"base_width": 4}}}, recipes=[str(recipe)], seeds=[0])
    s = run_benchmark(build_config(raw, out=tmp_path / "out"), tmp_path / "out")
    assert s.ran == ["tiny--smai--mine--s0"] and not s.failed, s.failed
    rec = json.loads((tmp_path / "out" / "cells" / "tiny--smai--mine--s0" / "cell.json").read_text())
    assert rec["recipe_source"] == str(recipe)

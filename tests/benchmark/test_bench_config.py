"""Benchmark config validation: every name and parameter is checked before the first cell runs."""

from __future__ import annotations

import pytest
from bench_helpers import tiny_config, tiny_dataset
from click.testing import CliRunner

from adsynth.benchmark.config import NO_RECIPE, build_config, shard_cells
from adsynth.errors import ConfigError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("bench") / "tiny.h5")


def test_cells_cover_models_recipes_seeds(data):
    cfg = build_config(tiny_config(data, models={"smai": {}, "padim": {"hparams": {"pretrained": False}}}))
    ids = [c.id for c in cfg.cells()]
    # a synthetic-anomaly model runs once per recipe and seed; any other model once per seed
    assert ids == [
        "tiny--smai--cutpaste-scar--s0", "tiny--smai--cutpaste-scar--s1",
        "tiny--smai--noise--s0", "tiny--smai--noise--s1",
        f"tiny--padim--{NO_RECIPE}--s0", f"tiny--padim--{NO_RECIPE}--s1",
    ]  # fmt: skip
    assert len({cfg.cell_hash(c) for c in cfg.cells()}) == 6
    assert (
        cfg.hash()
        == build_config(
            tiny_config(data, models={"smai": {}, "padim": {"hparams": {"pretrained": False}}})
        ).hash()
    )


@pytest.mark.parametrize(
    "over, needle",
    [
        ({"models": {"draemm": {}}}, "unknown model 'draemm'; did you mean draem"),
        (
            {"models": {"draem": {"hparams": {"base_widht": 4}}}},
            "model 'draem' has no hyper-parameter 'base_widht'",
        ),
        ({"models": {"draem": {"epoch": 1}}}, "model 'draem': unknown key 'epoch'"),
        ({"recipes": ["cutpaste-scar", "poison"]}, "unknown recipe 'poison'"),
        ({"recipes": ["missing.yaml"]}, "recipe file"),
        ({"seeds": [0, -1]}, "seed"),
        ({"budget": {"hours": 1}}, "budget: unknown key 'hours'"),
        ({"matrix_metrics": ["pixel_aucroc"]}, "unknown matrix metric 'pixel_aucroc'"),
        ({"datasets": {"x": "/no/such.h5"}}, "dataset 'x': /no/such.h5 not found"),
        ({"devices": "cpu"}, "benchmark config: unknown key 'devices'"),
        ({"device": "tpu"}, "device"),
        ({"models": {"draem": {"epochs": 0}}}, "models.draem.epochs"),
    ],
)
def test_invalid_config_names_the_problem(data, over, needle):
    with pytest.raises(ConfigError) as e:
        build_config(tiny_config(data, **over))
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_yaml_recipe_file_is_loaded_and_checked(data, tmp_path):
    (tmp_path / "bad.yaml").write_text("generators: [{name: cutpastee}]\n")
    with pytest.raises(ConfigError, match="recipe 'bad'"):
        build_config(tiny_config(data, recipes=[str(tmp_path / "bad.yaml")]))


def test_shards_partition_the_cells(data):
    cells = build_config(tiny_config(data)).cells()
    parts = [shard_cells(cells, f"{i}/3") for i in (1, 2, 3)]
    assert sorted(c.id for p in parts for c in p) == sorted(c.id for c in cells)
    for bad in ("0/3", "4/3", "x", "1/0"):
        with pytest.raises(ConfigError, match="shard"):
            shard_cells(cells, bad)


def test_cli_reports_one_line_and_runs_nothing(data, tmp_path):
    from adsynth.cli.main import cli

    (tmp_path / "b.yaml").write_text(
        f"datasets: {{tiny: {data}}}\n"
        "models: {smai: {}, draem: {hparams: {nope: 1}}}\nrecipes: [noise]\n"
    )
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["benchmark", "--config", str(tmp_path / "b.yaml"), "--out", str(out)])
    assert r.exit_code == 2, r.output
    assert r.output.strip().splitlines()[-1] == (
        "Error: model 'draem' has no hyper-parameter 'nope' (valid: "
        + r.output.split("(valid: ", 1)[1].strip()
    )
    assert not (out / "cells").exists()
    r = CliRunner().invoke(
        cli, ["benchmark", "--data", data, "--models", "smai", "--recipes", "noise,cutpaste",
              "--seeds", "0,3", "--out", str(out), "--check", "--device", "cpu"]
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "4 cells, 4 in this run" in r.output and "tiny--smai--cutpaste--s3" in r.output


def test_folder_and_subset_datasets_are_written_once(mvtec_dir, data, tmp_path):
    from adsynth.benchmark.runner import _import_datasets
    from adsynth.data.reader import DatasetReader

    raw = tiny_config(
        data,
        datasets={
            "folder": {"folder": str(mvtec_dir), "import": {"size": 32}},
            "sub": {"train": data, "subset": {"train": 3, "test_per_type": 1, "seed": 1}},
        },
    )
    cfg = build_config(raw, out=tmp_path)
    _import_datasets(cfg, log=lambda s: None)
    imported = DatasetReader(tmp_path / "datasets" / "folder.h5")
    assert imported.counts()[("test", "crack", 1)] == 2 and imported.shape[:2] == (32, 32)
    sub = DatasetReader(tmp_path / "datasets" / "sub.h5")
    assert sorted(sub.counts().items()) == [
        (("test", "bright", 1), 1), (("test", "dark", 1), 1),
        (("test", "good", 0), 1), (("train", "good", 0), 3),
    ]  # fmt: skip
    assert not list((tmp_path / "datasets").glob(".*.h5"))  # no private temporary files left
    made = (tmp_path / "datasets" / "sub.h5").stat().st_mtime_ns
    _import_datasets(cfg, log=lambda s: None)  # made once
    assert (tmp_path / "datasets" / "sub.h5").stat().st_mtime_ns == made
    raw["datasets"]["sub"]["subset"]["train"] = 4  # a changed subset is made again
    _import_datasets(build_config(raw, out=tmp_path), log=lambda s: None)
    assert len(DatasetReader(tmp_path / "datasets" / "sub.h5", split="train")) == 4
    with pytest.raises(ConfigError, match="unknown key 'sizes'"):
        build_config(tiny_config(data, datasets={"f": {"folder": str(mvtec_dir), "import": {"sizes": 32}}}))


def test_a_recipe_file_is_hashed_by_its_content_not_its_path(data, tmp_path):
    """Moving a recipe YAML (or running from another folder) keeps the finished cells; editing it does not."""
    text = "name: mine\ngenerators:\n  - name: noise\n"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "mine.yaml").write_text(text)
    (tmp_path / "b" / "mine.yaml").write_text(text)

    def hashes(path):
        cfg = build_config(tiny_config(data, models={"smai": {}}, recipes=[str(path)], seeds=[0]))
        return [cfg.cell_hash(c) for c in cfg.cells()]

    assert hashes(tmp_path / "a" / "mine.yaml") == hashes(tmp_path / "b" / "mine.yaml")
    (tmp_path / "b" / "mine.yaml").write_text(text + "normal_fraction: 0.5\n")
    assert hashes(tmp_path / "a" / "mine.yaml") != hashes(tmp_path / "b" / "mine.yaml")

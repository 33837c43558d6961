"""The learning-curve benchmark: ``fewshot`` datasets, the K rule, real-defect models and the report."""

from __future__ import annotations

import csv
import json
import math

import pytest
from bench_helpers import tiny_config, tiny_dataset

from adsynth.benchmark import build_config, run_benchmark
from adsynth.benchmark.config import NO_RECIPE
from adsynth.benchmark.fewshot import curve_rows, write_fewshot_report
from adsynth.data import DatasetReader
from adsynth.errors import ConfigError

PADIM = {"model": "padim", "hparams": {"pretrained": False}}
SSN = {"hparams": {"pretrained": False}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    # 4 bright and 4 dark defective test photos: two folds of a pool of 2
    return tiny_dataset(tmp_path_factory.mktemp("fewshot") / "tiny.h5", n_test=4)


def fewshot_config(data, models, **fewshot):
    return tiny_config(
        data,
        datasets={"mt": {"train": data, "fewshot": {"k": [0, 1, 2], "folds": 2, "pool": 2, **fewshot}}},
        models=models,
        recipes=[],
        seeds=[0],
    )


MODELS = {
    "synth": PADIM,
    "ssn-real": {"model": "supersimplenet", "real_defects": "all", "synthetic": False, **SSN},
    "ssn-mixed": {"model": "supersimplenet", "real_defects": "all", **SSN},
}


def test_expansion_and_the_k_rule(data, tmp_path):
    cfg = build_config(fewshot_config(data, MODELS), out=tmp_path)
    names = [d.name for d in cfg.datasets]
    assert names == ["mt-k0-f0", "mt-k1-f0", "mt-k2-f0", "mt-k0-f1", "mt-k1-f1", "mt-k2-f1"]
    d = cfg.dataset("mt-k1-f1")
    assert d.train == d.test == str(tmp_path / "datasets" / "mt-k1-f1.h5")
    assert d.source == data and d.group == "mt"
    assert d.fewshot == {"k": 1, "fold": 1, "pool": 2, "seed": 0}
    # without real defects: K = 0 only; with real defects: K >= 1 only
    by_model: dict[str, list[str]] = {}
    for c in cfg.cells():
        by_model.setdefault(c.model, []).append(c.dataset)
    assert by_model["synth"] == ["mt-k0-f0", "mt-k0-f1"]
    assert by_model["ssn-real"] == by_model["ssn-mixed"] == ["mt-k1-f0", "mt-k2-f0", "mt-k1-f1", "mt-k2-f1"]
    recipes = {c.model: c.recipe for c in cfg.cells()}
    assert recipes["ssn-real"] == NO_RECIPE  # synthetic: false trains without a recipe
    m = cfg.model("ssn-real")
    assert (m.real_defects, m.synthetic, m.uses_synthetic) == ("all", False, False)
    assert cfg.model("ssn-mixed").synthetic
    manifest = cfg.to_dict()
    assert manifest["fewshot"]["mt-k2-f1"] == {"group": "mt", "k": 2, "fold": 1}
    # a model's real-defect settings are part of its cells' hashes
    spec = cfg.cell_spec(cfg.cells()[-1])
    assert spec["model"]["real_defects"] == "all" and spec["dataset"]["fewshot"]["k"] == 2


def test_shards_in_other_folders_give_the_same_cell_hashes(data, tmp_path):
    """A fewshot split (like a subset or an import) is written into each --out folder: where is not part
    of a cell's hash, so shards run into different folders can be merged."""
    a = build_config(fewshot_config(data, MODELS), out=tmp_path / "a").to_dict()
    b = build_config(fewshot_config(data, MODELS), out=tmp_path / "b").to_dict()
    assert a["cells"] == b["cells"] and a["config_hash"] == b["config_hash"]


def test_existing_configs_keep_their_cell_hashes(data):
    cfg = build_config(tiny_config(data, models={"smai": {"hparams": {"base_width": 4}}}, recipes=["noise"]))
    spec = cfg.cell_spec(cfg.cells()[0])
    for key in ("fewshot", "group"):
        assert key not in spec["dataset"]
    for key in ("real_defects", "synthetic"):
        assert key not in spec["model"]
    assert "fewshot" not in cfg.to_dict()


@pytest.mark.parametrize(
    "models, fewshot, needle",
    [
        ({"synth": PADIM}, {"k": [1, 2]}, "model 'synth' (real_defects none) runs at K = 0 only: add one to "
         "datasets.mt.fewshot.k"),
        ({"r": MODELS["ssn-real"]}, {"k": [0]}, "model 'r' (real_defects all) runs at a K >= 1 only"),
        ({"synth": PADIM}, {"pool": 1}, "expected `pool` to be an int >= the largest K (2), got 1"),
        ({"synth": PADIM}, {"folds": 3},
         "tiny.h5: defect type 'bright' has 4 defective photos; fold 2 with a pool of 2 needs 6"),
        ({"synth": PADIM}, {"fold": 1}, "dataset 'mt' fewshot: unknown key 'fold'"),
        ({"synth": PADIM}, {"k": [0, 0]}, "expected `k` to be a list of distinct ints >= 0, got [0, 0]"),
        ({"x": {**MODELS["ssn-real"], "real_defects": "some"}}, {}, "expected `real_defects` to be one of"),
        ({"x": {**MODELS["ssn-real"], "recipes": ["noise"]}}, {}, "`synthetic: false` trains without"),
        ({"x": {**PADIM, "real_defects": "all"}}, {}, "model 'x': model 'padim' trains on normal images"),
    ],
)  # fmt: skip
def test_invalid_fewshot_config_names_the_problem(data, models, fewshot, needle):
    with pytest.raises(ConfigError) as e:
        build_config(fewshot_config(data, models, **fewshot))
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_real_defects_need_defective_training_photos(data):
    raw = tiny_config(data, models={"r": MODELS["ssn-real"]}, recipes=[], seeds=[0])
    with pytest.raises(ConfigError, match="dataset 'tiny' has no defective training photos"):
        build_config(raw)
    raw["datasets"] = {"mt": {"train": data, "fewshot": {"k": [1]}, "test": data}}
    with pytest.raises(ConfigError, match="expected `fewshot` with `train`"):
        build_config(raw)


def _rec(dataset, model, values, recipe=NO_RECIPE, seed=0):
    """A cell record with the metric rows ``values``: {defect type: {metric: value}}."""
    rows = [{"defect_type": t, "metric": m, "value": v} for t, ms in values.items() for m, v in ms.items()]
    source = None if recipe == NO_RECIPE else f"{recipe}.yaml"
    return {"dataset": dataset, "model": model, "recipe": recipe, "recipe_source": source, "seed": seed,
            "rows": rows}  # fmt: skip


FEWSHOT = {
    f"mt-k{k}-f{f}": {"group": "mt", "k": k, "fold": f} for f in (0, 1) for k in (0, 1, 2)
}  # fmt: skip


def test_curve_rows_fold_stats_and_the_k0_broadcast():
    recs = [
        _rec("mt-k0-f0", "synth", {"a": {"aupro": 0.4}, "b": {"aupro": 0.6}, "all": {"aupro": 0.5}}),
        _rec("mt-k0-f1", "synth", {"a": {"aupro": 0.5}, "b": {"aupro": 0.7}, "all": {"aupro": 0.6}}),
        _rec("mt-k1-f0", "real", {"a": {"aupro": 0.2}, "b": {"aupro": 0.3}}),
        _rec("mt-k1-f1", "real", {"a": {"aupro": 0.4}, "b": {"aupro": None}}),
        _rec("mt-k2-f0", "real", {"a": {"aupro": 0.6}}, seed=0),
        _rec("mt-k2-f0", "real", {"a": {"aupro": 0.8}}, seed=1),  # seeds are averaged within a fold
        _rec("mt-k2-f1", "real", {"a": {"aupro": 0.9}}),
        _rec("other", "real", {"a": {"aupro": 0.0}}),  # not a fewshot dataset: ignored
    ]
    rows = curve_rows(recs, FEWSHOT)
    at = {(r["condition"], r["k"], r["defect_type"]): r for r in rows if r["metric"] == "aupro"}
    # the synthetic-only condition: its K = 0 value at every K
    for k in (0, 1, 2):
        r = at[("synth", k, "a")]
        assert math.isclose(r["mean"], 0.45) and math.isclose(r["sd"], math.sqrt(0.005))
        assert r["n_folds"] == 2 and r["from_k0"] == (k > 0)
    assert math.isclose(at[("synth", 2, "mean")]["mean"], 0.55)  # mean over types per fold, then folds
    assert math.isclose(at[("synth", 1, "all")]["mean"], 0.55)
    assert ("real", 0, "a") not in at
    assert math.isclose(at[("real", 1, "a")]["mean"], 0.3)
    assert at[("real", 1, "b")]["n_folds"] == 1 and math.isnan(at[("real", 1, "b")]["sd"])
    assert math.isclose(at[("real", 2, "a")]["mean"], (0.7 + 0.9) / 2)
    # fold 1 of K = 1 has no b: its mean is a's alone
    assert math.isclose(at[("real", 1, "mean")]["mean"], (0.25 + 0.4) / 2)
    types = [r["defect_type"] for r in rows if (r["condition"], r["k"], r["metric"]) == ("synth", 0, "aupro")]
    assert types == ["a", "b", "mean", "all"]


def _fake_run(out, fewshot, records):
    """A benchmark folder of finished cells (the records' own hashes), without training."""
    cells = {}
    for i, rec in enumerate(records):
        cid = f"{rec['dataset']}--{rec['model']}--{rec['recipe']}--s{rec['seed']}"
        full = {**rec, "cell": cid, "cell_hash": f"h{i}", "model_name": "padim",
                "real_defects": "none" if rec["model"] == "synth" else "all", "synthetic": True}  # fmt: skip
        (out / "cells" / cid).mkdir(parents=True)
        (out / "cells" / cid / "cell.json").write_text(json.dumps(full))
        cells[cid] = f"h{i}"
    return {"config_hash": "c0", "cells": cells, "fewshot": fewshot}


def test_report_files_from_fake_results(tmp_path):
    vals = {"a": {"aupro": 0.5, "pixel_auroc": 0.9, "image_auroc": 0.8}, "all": {"aupro": 0.5}}
    recs = [_rec(f"mt-k0-f{f}", "synth", vals) for f in (0, 1)]
    recs += [_rec(f"mt-k{k}-f{f}", "real", vals) for f in (0, 1) for k in (1, 2)]
    manifest = _fake_run(tmp_path, FEWSHOT, recs)
    paths = write_fewshot_report(tmp_path, manifest)
    assert [p.name for p in paths] == ["fewshot.md", "fewshot.csv", "fewshot.json", "fewshot.png"]
    with open(tmp_path / "fewshot.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["condition"], r["k"]) for r in rows} == {("synth", "0"), ("synth", "1"), ("synth", "2"),
                                                        ("real", "1"), ("real", "2")}  # fmt: skip
    md = (tmp_path / "fewshot.md").read_text()
    assert "## mt: AUPRO (2 folds)" in md and "| synth | 2 | 0.500 ± 0.000 * |" in md
    assert "| real | padim | none | all | yes |" in md
    doc = json.loads((tmp_path / "fewshot.json").read_text())
    assert doc["format"] == "adsynth-fewshot" and len(doc["rows"]) == len(rows)
    assert (tmp_path / "fewshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert write_fewshot_report(tmp_path, {**manifest, "fewshot": {}}) == []


def test_tiny_run_writes_the_splits_once_and_the_report(data, tmp_path):
    models = {"synth": PADIM, "ssn-real": MODELS["ssn-real"]}
    raw = fewshot_config(data, models, k=[0, 1], pool=1)
    cfg = build_config(raw, out=tmp_path)
    s = run_benchmark(cfg, tmp_path)
    assert len(s.ran) == 4 and not s.failed
    f0, f1 = (DatasetReader(tmp_path / "datasets" / f"mt-k1-f{f}.h5") for f in (0, 1))
    train = [f0.settings["train_defects"]["train"], f1.settings["train_defects"]["train"]]
    assert all(len(v) == 1 for tr in train for v in tr.values()) and train[0] != train[1]
    assert len(DatasetReader(f0.path, split="train", label="anomalous")) == 2
    k0 = DatasetReader(tmp_path / "datasets" / "mt-k0-f0.h5")
    assert len(k0) == len(DatasetReader(data)) - 2  # one photo per type left out
    assert DatasetReader(k0.path, split="test").names == DatasetReader(f0.path, split="test").names
    rec = json.loads((tmp_path / "cells" / "mt-k1-f1--ssn-real--none--s0" / "cell.json").read_text())
    assert rec["real_defects"] == "all" and rec["synthetic"] is False
    assert rec["feature_noise"] is True  # SuperSimpleNet: the few-shot report lists its noise
    assert rec["fewshot"] == {"group": "mt", "k": 1, "fold": 1, "pool": 1, "seed": 0}
    md = (tmp_path / "fewshot.md").read_text()
    assert "| synth | 1 |" in md and "| ssn-real | 1 |" in md and (tmp_path / "fewshot.png").is_file()
    mtime = (tmp_path / "datasets" / "mt-k0-f0.h5").stat().st_mtime_ns
    assert run_benchmark(cfg, tmp_path, resume=True).kept == [c.id for c in cfg.cells()]
    assert (tmp_path / "datasets" / "mt-k0-f0.h5").stat().st_mtime_ns == mtime


def test_a_model_without_synthetic_defects_is_listed_so():
    from adsynth.benchmark.fewshot import fewshot_markdown

    info = {"model_name": "padim", "recipe": NO_RECIPE, "real_defects": None, "synthetic": True}
    md = fewshot_markdown(
        [], {"padim": {**info, "uses_synthetic": False}, "ds": {**info, "model_name": "ds"}}
    )
    assert (
        f"| padim | padim | {NO_RECIPE} | none | no |" in md
        and f"| ds | ds | {NO_RECIPE} | none | yes |" in md
    )


def test_feature_noise_models_are_listed_as_training_on_synthetic_anomalies():
    """SuperSimpleNet has no recipe but trains on feature-space anomalies, unless `synthetic: false`."""
    from adsynth.benchmark.fewshot import fewshot_markdown

    info = {"model_name": "supersimplenet", "recipe": NO_RECIPE, "real_defects": "all"}
    info.update(uses_synthetic=False, feature_noise=True)  # as the runner records a SuperSimpleNet cell
    md = fewshot_markdown([], {"mixed": {**info, "synthetic": True}, "real": {**info, "synthetic": False}})
    assert (
        f"| mixed | supersimplenet | {NO_RECIPE} | all | feature noise |" in md
        and f"| real | supersimplenet | {NO_RECIPE} | all | no |" in md
    )

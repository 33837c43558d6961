"""Transfer matrix and ranking tables from hand-made results rows (exact values)."""

from __future__ import annotations

import csv
import io
import math

from adsynth.benchmark.matrix import MEAN_OF_MODELS, ranking, transfer_matrices, write_matrices


def _rows():
    """Synthetic models a, b × recipes r1, r2 × seeds 0, 1, and a plain model p; defect types x, y."""
    vals = {
        ("a", "r1"): {"x": (0.9, 0.7), "y": (0.5, 0.5)},
        ("a", "r2"): {"x": (0.6, 0.6), "y": (0.8, 0.6)},
        ("b", "r1"): {"x": (0.5, 0.5), "y": (0.4, 0.4)},
        ("b", "r2"): {"x": (0.7, 0.9), "y": (0.6, 0.6)},
        ("p", "none"): {"x": (0.55, 0.55), "y": (0.95, 0.95)},
    }
    rows = []
    for (model, recipe), by_type in vals.items():
        for t in ("x", "y", "all"):
            for seed in (0, 1):
                v = by_type[t][seed] if t != "all" else (by_type["x"][seed] + by_type["y"][seed]) / 2
                rows.append(
                    {"dataset": "d", "model": model, "recipe": recipe, "seed": seed, "defect_type": t,
                     "metric": "pixel_auroc", "value": v, "uses_synthetic": model != "p"}
                )  # fmt: skip
    return rows


def test_matrix_means_and_seed_spread():
    mats = transfer_matrices(_rows(), "d", "pixel_auroc")
    assert list(mats) == ["a", "b", MEAN_OF_MODELS]  # the plain model p is not in the transfer matrix
    a = mats["a"]
    assert a["recipes"] == ["r1", "r2"] and a["types"] == ["x", "y", "all"]
    assert math.isclose(a["mean"][0][0], 0.8) and math.isclose(a["sd"][0][0], 0.2 / math.sqrt(2))
    assert a["sd"][1][0] == 0.0 and a["n"][0] == [2, 2, 2]
    m = mats[MEAN_OF_MODELS]
    # per seed, the mean of a and b, then mean and sd over seeds: x/r2 = (0.65, 0.75)
    assert math.isclose(m["mean"][1][0], 0.7) and math.isclose(m["sd"][1][0], 0.1 / math.sqrt(2))


def test_ranking_mean_rank_and_winners():
    rk = ranking(_rows(), "d", "pixel_auroc", by_recipe=False)
    order = [e["system"] for e in rk["systems"]]
    # x: a 0.7, b 0.65, p 0.55 -> ranks 1, 2, 3; y: p 0.95, a 0.6, b 0.5 -> 1, 2, 3
    assert order == ["a", "p", "b"]
    means = {e["system"]: e["mean_rank"] for e in rk["systems"]}
    assert means == {"a": 1.5, "p": 2.0, "b": 2.5}
    assert rk["winners"]["x"] == "a" and rk["winners"]["y"] == "p"
    by = ranking(_rows(), "d", "pixel_auroc", by_recipe=True)
    assert by["winners"]["x"] == "a / r1" or by["winners"]["x"] == "b / r2"  # 0.8 tie: shared rank
    ranks = {e["system"]: e["ranks"]["x"] for e in by["systems"]}
    assert ranks["a / r1"] == ranks["b / r2"] == 1.5


def test_written_files(tmp_path):
    written = write_matrices(tmp_path, _rows(), ["d"], ["pixel_auroc"], {"d": True})
    names = sorted(p.relative_to(tmp_path).as_posix() for p in written)
    assert names == [
        "matrix/d_pixel_auroc.csv", "matrix/d_pixel_auroc.md", "matrix/d_pixel_auroc.png",
        "ranking/d_pixel_auroc.csv", "ranking/d_pixel_auroc.md",
        "ranking/d_pixel_auroc_by_recipe.csv", "ranking/d_pixel_auroc_by_recipe.md",
    ]  # fmt: skip
    table = list(csv.reader(io.StringIO((tmp_path / "matrix/d_pixel_auroc.csv").read_text())))
    assert len(table) == 1 + 6 and len(table[0]) == 3 + 2 * 3
    assert "synthetic defect types" in (tmp_path / "matrix/d_pixel_auroc.md").read_text()
    assert "0.800 ± 0.141" in (tmp_path / "matrix/d_pixel_auroc.md").read_text()


def test_held_out_synthetic_test_set_gives_recipe_by_synthetic_type(tmp_path):
    from bench_helpers import tiny_config, tiny_dataset

    from adsynth.benchmark import build_config, run_benchmark
    from adsynth.synth.engine import generate_dataset

    data = tiny_dataset(tmp_path / "tiny.h5")
    synth = tmp_path / "synth_test.h5"
    generate_dataset("mixed", synth, input=data, split="test", source_split="train", per_image=2, seed=3)
    raw = tiny_config(
        data,
        datasets={"synth": {"train": data, "test": str(synth)}},
        models={"smai": {"hparams": {"base_width": 4}}},
        recipes=["noise"],
        seeds=[0],
        matrix_metrics=["image_auroc"],
    )
    run_benchmark(build_config(raw, out=tmp_path / "b"), tmp_path / "b")
    md = (tmp_path / "b" / "matrix" / "synth_image_auroc.md").read_text()
    assert "synthetic defect types" in md
    from adsynth.data.reader import DatasetReader

    types = [t for t in dict.fromkeys(DatasetReader(synth, split="test").defect_types) if t != "good"]
    header = next(line for line in md.splitlines() if line.startswith("| recipe |"))
    assert all(t in header for t in types) and len(types) >= 2


def test_results_table_files(tmp_path):
    from adsynth.benchmark.results import COLUMNS, read_results, write_results

    rows = [dict.fromkeys(COLUMNS, "x") | {"value": v, "seed": i} for i, v in enumerate((0.5, None))]
    written = write_results(tmp_path, rows, {"config_hash": "h"})
    assert read_results(tmp_path / "results.json") == rows
    table = list(csv.DictReader(io.StringIO((tmp_path / "results.csv").read_text())))
    assert list(table[0]) == COLUMNS and [r["value"] for r in table] == ["0.5", ""]
    try:
        import pyarrow.parquet as pq
    except ImportError:
        assert len(written) == 2  # Parquet only with pyarrow
        return
    assert pq.read_table(tmp_path / "results.parquet").to_pylist() == rows

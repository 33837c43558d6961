"""Does the realism score predict what a model learns? (issue 27, item 2)

Reads ``adsynth recipes score``'s ``score.json`` and an ``adsynth benchmark`` output folder (the transfer
matrix), and prints for each model the Spearman rank correlation between the score (lower = closer to the
real defects) and the measured metric (mean over seeds), per real defect type over the recipes both have,
and pooled: the ranks are taken within each type, then correlated over all (recipe, type) pairs. The
95 % interval is a bootstrap over recipes (2000 resamples, seeded). A score that predicts well gives a
strongly *negative* correlation (closer recipes, higher AUPRO). The same is printed for the score's
appearance term alone (feature distance, without area / elongation / contrast / sharpness).

    python benchmarks/score_vs_matrix.py --score score/score.json --bench transfer/ [--metric aupro]
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from adsynth.benchmark.layout import CONFIG_FILE
from adsynth.benchmark.results import collect


def _matrix(bench: Path, metric: str) -> dict[str, dict[tuple[str, str], float]]:
    """model -> (recipe, defect type) -> mean over seeds, from the benchmark's finished cells."""
    manifest = json.loads((bench / CONFIG_FILE).read_text())
    records, _missing, _failed = collect([bench], manifest)
    vals: dict[str, dict[tuple[str, str], list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in records:
        for row in rec["rows"]:
            if row["metric"] == metric and row["defect_type"] != "all":
                vals[rec["model"]][(rec["recipe"], row["defect_type"])].append(row["value"])
    return {m: {k: statistics.mean(v) for k, v in d.items()} for m, d in vals.items()}


def _pooled(recipes, types, score, perf) -> float:
    """Spearman with ranks taken within each type, correlated over all pairs."""
    xs, ys = [], []
    for t in types:
        xs.extend(rankdata([score[(r, t)] for r in recipes]))
        ys.extend(rankdata([perf[(r, t)] for r in recipes]))
    if np.std(xs) == 0 or np.std(ys) == 0:
        return float("nan")
    return float(np.corrcoef(xs, ys)[0, 1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--score", type=Path, required=True, help="score.json of `adsynth recipes score`")
    p.add_argument("--bench", type=Path, required=True, help="an `adsynth benchmark` output folder")
    p.add_argument("--metric", default="aupro")
    p.add_argument("--resamples", type=int, default=2000)
    a = p.parse_args()
    rows = json.loads(a.score.read_text())["rows"]
    terms = {
        "score": {(r["recipe"], r["defect_type"]): r["score"] for r in rows},
        "appearance": {(r["recipe"], r["defect_type"]): r["appearance"] for r in rows},
    }
    rng = np.random.default_rng(0)
    for model, perf in sorted(_matrix(a.bench, a.metric).items()):
        types = sorted({t for _, t in perf} & {t for _, t in terms["score"]})
        recipes = sorted({r for r, _ in perf} & {r for r, _ in terms["score"]})
        recipes = [r for r in recipes if all((r, t) in perf for t in types)]
        if len(recipes) < 3:
            print(f"\n{model}: {len(recipes)} recipe(s) with a score and all types; too few to rank")
            continue
        print(f"\n{model}: {len(recipes)} recipes ({', '.join(recipes)}), {a.metric}, mean over seeds\n")
        print("| term | pooled within types (95 % bootstrap interval) | " + " | ".join(types) + " |")
        print("|---|---|" + "---:|" * len(types))
        for name, score in terms.items():
            pooled = _pooled(recipes, types, score, perf)
            boot = []
            for _ in range(a.resamples):
                pick = [recipes[i] for i in rng.integers(0, len(recipes), len(recipes))]
                v = _pooled(pick, types, score, perf)
                if v == v:
                    boot.append(v)
            lo, hi = np.percentile(boot, [2.5, 97.5]) if boot else (float("nan"),) * 2
            per_type = [_pooled(recipes, [t], score, perf) for t in types]
            print(
                f"| {name} | {pooled:+.2f} [{lo:+.2f}, {hi:+.2f}] | "
                + " | ".join(f"{v:+.2f}" for v in per_type)
                + " |"
            )


if __name__ == "__main__":
    main()

"""The synthetic-to-real transfer matrix and the ranking tables, from the tidy results rows.

Transfer matrix (per dataset and metric): for every model trained on synthetic anomalies (registry flag
``uses_synthetic``), rows = the recipe it was trained with, columns = the test set's defect types (real
ones, or synthetic ones for a held-out set made by ``adsynth generate --split test``) and ``all``;
a cell = the mean over seeds, with the seed-to-seed standard deviation (ddof 1) beside it. A last block,
``mean of models``, averages the models per seed first (then mean and sd over seeds).

Ranking (per dataset and metric): systems = models (averaged over their recipes and seeds) and
model/recipe pairs; rank 1 = highest metric per defect type (ties share the mean rank); the mean rank
is over the defect types (``all`` excluded); the winner of each defect type is listed.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from adsynth.fsutil import atomic_write_bytes

ALL = "all"
MEAN_OF_MODELS = "mean of models"


def _order(values) -> list:
    seen: dict = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def _stats(values: list[float]) -> tuple[float, float, int]:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    n = len(vals)
    if n == 0:
        return math.nan, math.nan, 0
    mean = sum(vals) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1)) if n > 1 else math.nan
    return mean, sd, n


def defect_types(rows: list[dict], dataset: str) -> list[str]:
    """The dataset's defect types in report order, ``all`` last."""
    types = _order(r["defect_type"] for r in rows if r["dataset"] == dataset)
    return [t for t in types if t != ALL] + ([ALL] if ALL in types else [])


def transfer_matrices(rows: list[dict], dataset: str, metric: str) -> dict[str, dict[str, Any]]:
    """model label (and ``mean of models``) -> {recipes, types, mean, sd, n} (lists of rows)."""
    sel = [r for r in rows if r["dataset"] == dataset and r["metric"] == metric and r["uses_synthetic"]]
    types = defect_types(rows, dataset)
    models = _order(r["model"] for r in sel)
    recipes_all = _order(r["recipe"] for r in sel)
    by: dict[tuple, dict[int, float]] = defaultdict(dict)
    for r in sel:
        by[(r["model"], r["recipe"], r["defect_type"])][r["seed"]] = r["value"]
    out: dict[str, dict[str, Any]] = {}

    def block(recipes, get):
        mean, sd, n = [], [], []
        for rec in recipes:
            st = [_stats(get(rec, t)) for t in types]
            mean.append([s[0] for s in st])
            sd.append([s[1] for s in st])
            n.append([s[2] for s in st])
        return {"recipes": recipes, "types": types, "mean": mean, "sd": sd, "n": n}

    for m in models:
        recipes = [rec for rec in recipes_all if any(k[0] == m and k[1] == rec for k in by)]
        out[m] = block(recipes, lambda rec, t, m=m: list(by.get((m, rec, t), {}).values()))
    if len(models) > 1:

        def per_seed_mean(rec, t):
            seeds = _order(s for m in models for s in by.get((m, rec, t), {}))
            vals = []
            for s in seeds:
                v = [by[(m, rec, t)][s] for m in models if by.get((m, rec, t), {}).get(s) is not None]
                if len(v) == len([m for m in models if (m, rec, t) in by]):
                    vals.append(sum(v) / len(v))
            return vals

        out[MEAN_OF_MODELS] = block(recipes_all, per_seed_mean)
    return out


def _cell(mean: float, sd: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.3f}" + ("" if math.isnan(sd) else f" ± {sd:.3f}")


def matrix_markdown(mats: dict[str, dict], dataset: str, metric: str, synthetic_test: bool) -> str:
    kind = "synthetic" if synthetic_test else "real"
    lines = [
        f"## Transfer matrix: {dataset}, {metric}",
        "",
        f"Rows: the recipe used in training; columns: the {kind} defect types of the test set. "
        "Mean over seeds ± seed-to-seed standard deviation.",
    ]
    for model, m in mats.items():
        lines += ["", f"**{model}**", "", "| recipe | " + " | ".join(m["types"]) + " |"]
        lines.append("|---|" + "---:|" * len(m["types"]))
        for i, rec in enumerate(m["recipes"]):
            cells = [_cell(a, b) for a, b in zip(m["mean"][i], m["sd"][i], strict=True)]
            lines.append(f"| {rec} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _csv(header: list[str], rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _num(v: float) -> str:
    return "" if v is None or math.isnan(v) else repr(float(v))


def matrix_csv(mats: dict[str, dict]) -> bytes:
    """Columns: model, recipe, n_seeds, then ``<type>`` (mean) and ``<type>_sd`` per defect type."""
    types = next(iter(mats.values()))["types"] if mats else []
    header = ["model", "recipe", "n_seeds", *types, *(f"{t}_sd" for t in types)]
    rows = []
    for model, m in mats.items():
        for i, rec in enumerate(m["recipes"]):
            rows.append(
                [model, rec, max(m["n"][i], default=0), *map(_num, m["mean"][i]), *map(_num, m["sd"][i])]
            )
    return _csv(header, rows)


def matrix_png(mats: dict[str, dict], title: str) -> bytes:
    """A heat map per model (annotated mean, ±sd), side by side, one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    vals = [v for m in mats.values() for row in m["mean"] for v in row if not math.isnan(v)]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    n = max(len(mats), 1)
    first = next(iter(mats.values()), {"types": [], "recipes": []})
    w = 1.2 + 0.9 * len(first["types"])
    fig, axes = plt.subplots(1, n, figsize=(w * n, 1.0 + 0.45 * max(len(first["recipes"]), 1)), squeeze=False)
    for k, (ax, (model, m)) in enumerate(zip(axes[0], mats.items(), strict=False)):
        a = np.array(m["mean"], dtype=float).reshape(len(m["recipes"]), len(m["types"]))
        im = ax.imshow(a, cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1e-6, aspect="auto")
        ax.set_xticks(range(len(m["types"])), m["types"], rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(m["recipes"])), m["recipes"] if k == 0 else [], fontsize=8)
        ax.set_title(model, fontsize=9)
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                if not math.isnan(a[i, j]):
                    sd = m["sd"][i][j]
                    txt = f"{a[i, j]:.2f}" + ("" if math.isnan(sd) else f"\n±{sd:.2f}")
                    colour = "black" if a[i, j] > (lo + hi) / 2 else "white"
                    ax.text(j, i, txt, ha="center", va="center", fontsize=6, color=colour)
    if mats:
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
    fig.suptitle(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _ranks(values: dict[str, float]) -> dict[str, float]:
    """Rank 1 = highest; ties share their mean rank; NaN ranks last."""
    items = sorted(values.items(), key=lambda kv: -kv[1] if not math.isnan(kv[1]) else math.inf)
    ranks: dict[str, float] = {}
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1][1] == items[i][1]:
            j += 1
        for k in range(i, j + 1):
            ranks[items[k][0]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def ranking(rows: list[dict], dataset: str, metric: str, by_recipe: bool) -> dict[str, Any]:
    """{types, systems: [{system, mean_rank, values{type: mean}, ranks{type: rank}}], winners{type}}."""
    sel = [r for r in rows if r["dataset"] == dataset and r["metric"] == metric]
    types = defect_types(rows, dataset)
    vals: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in sel:
        system = f"{r['model']} / {r['recipe']}" if by_recipe else r["model"]
        vals[(system, r["defect_type"])].append(r["value"])
    systems = _order(s for s, _ in vals)
    means = {(s, t): _stats(vals.get((s, t), []))[0] for s in systems for t in types}
    ranks = {t: _ranks({s: means[(s, t)] for s in systems}) for t in types}
    scored = [t for t in types if t != ALL]
    table = []
    for s in systems:
        mr = sum(ranks[t][s] for t in scored) / len(scored) if scored else math.nan
        table.append(
            {
                "system": s,
                "mean_rank": mr,
                "values": {t: means[(s, t)] for t in types},
                "ranks": {t: ranks[t][s] for t in types},
            }
        )
    table.sort(key=lambda e: (e["mean_rank"], e["system"]))
    winners = {t: min(systems, key=lambda s, t=t: (ranks[t][s], s)) for t in types} if systems else {}
    return {"types": types, "systems": table, "winners": winners}


def ranking_markdown(rk: dict[str, Any], title: str) -> str:
    types = rk["types"]
    lines = [f"## {title}", "", "| system | mean rank | " + " | ".join(types) + " |"]
    lines.append("|---|---:|" + "---:|" * len(types))
    for e in rk["systems"]:
        cells = [("n/a" if math.isnan(e["values"][t]) else f"{e['values'][t]:.3f}") for t in types]
        lines.append(f"| {e['system']} | {e['mean_rank']:.2f} | " + " | ".join(cells) + " |")
    lines += ["", "Winner per defect type: " + ", ".join(f"{t}: **{s}**" for t, s in rk["winners"].items())]
    return "\n".join(lines) + "\n"


def ranking_csv(rk: dict[str, Any]) -> bytes:
    types = rk["types"]
    header = ["system", "mean_rank", *types, *(f"{t}_rank" for t in types)]
    rows = [
        [
            e["system"],
            _num(e["mean_rank"]),
            *(_num(e["values"][t]) for t in types),
            *(_num(e["ranks"][t]) for t in types),
        ]
        for e in rk["systems"]
    ]
    return _csv(header, rows)


def write_matrices(
    out: Path, rows: list[dict], datasets: list[str], metrics, synthetic: dict[str, bool]
) -> list[Path]:
    """``matrix/<dataset>_<metric>.{md,csv,png}`` and ``ranking/<dataset>_<metric>{,_by_recipe}.{md,csv}``."""
    written: list[Path] = []
    (out / "matrix").mkdir(parents=True, exist_ok=True)
    (out / "ranking").mkdir(parents=True, exist_ok=True)

    def put(path: Path, data: bytes) -> None:
        atomic_write_bytes(path, data)
        written.append(path)

    for d in datasets:
        if not any(r["dataset"] == d for r in rows):
            continue
        for metric in metrics:
            mats = transfer_matrices(rows, d, metric)
            stem = f"{d}_{metric}"
            if mats:
                put(
                    out / "matrix" / f"{stem}.md",
                    matrix_markdown(mats, d, metric, synthetic.get(d, False)).encode(),
                )
                put(out / "matrix" / f"{stem}.csv", matrix_csv(mats))
                kind = "synthetic" if synthetic.get(d) else "real"
                put(
                    out / "matrix" / f"{stem}.png",
                    matrix_png(mats, f"{d}: {metric}, recipe x {kind} defect type"),
                )
            for by_recipe, suffix in ((False, ""), (True, "_by_recipe")):
                rk = ranking(rows, d, metric, by_recipe)
                what = "model / recipe" if by_recipe else "model (mean over recipes and seeds)"
                title = f"Ranking: {d}, {metric}, {what}"
                put(out / "ranking" / f"{stem}{suffix}.md", ranking_markdown(rk, title).encode())
                put(out / "ranking" / f"{stem}{suffix}.csv", ranking_csv(rk))
    return written

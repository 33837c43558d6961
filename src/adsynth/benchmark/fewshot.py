"""The learning curve of a benchmark with ``fewshot`` datasets: the metrics against K, the number of real
defective photos per defect type in the training split.

A dataset entry's ``fewshot: {k: [0, 1, 5], folds: 3, pool: 5, seed: 0}`` (with ``train:`` the source
``.h5``) expands (:func:`expand`) into one dataset ``<name>-k<K>-f<F>`` per K and fold, written once by
:func:`adsynth.data.fewshot.split_defects`. The K rule (:func:`runs_on`): a model without real defects
runs at K = 0 only (its training data do not depend on K, and one fold's test set is the same for every
K), a model with real defects at K >= 1 only.

The report is read from the finished cells' records (their metric rows per defect type) and the
manifest's ``fewshot`` map (dataset -> its entry, K and fold). A *condition* is a model entry (with its
recipe when it has one). Per condition, entry, K, defect type and metric: the seeds of a fold are
averaged, then the mean over the folds and the fold-to-fold sd (ddof 1) are reported. ``mean`` is the
mean over the defect types (per fold, then over folds); ``all`` is the evaluation's pooled row. A
condition measured at K = 0 only (no real defects) has its K = 0 value at every K (``from_k0``).

Written: ``fewshot.md``, ``fewshot.csv``, ``fewshot.json`` and ``fewshot.png`` (the first metric against
K, one line per condition, one panel per defect type and the mean; a row of panels per entry).

Example:
    >>> from adsynth.benchmark.fewshot import curve_rows
    >>> rec = {"dataset": "mt-k0-f0", "model": "synth", "recipe": "none", "recipe_source": None,
    ...        "seed": 0, "rows": [{"defect_type": "crack", "metric": "aupro", "value": 0.5}]}
    >>> rows = curve_rows([rec], {"mt-k0-f0": {"group": "mt", "k": 0, "fold": 0}, "mt-k2-f0":
    ...                   {"group": "mt", "k": 2, "fold": 0}})
    >>> [(r["k"], r["defect_type"], r["mean"], r["from_k0"]) for r in rows if r["defect_type"] == "crack"]
    [(0, 'crack', 0.5, False), (2, 'crack', 0.5, True)]
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adsynth.errors import ConfigError
from adsynth.fsutil import atomic_write_bytes

if TYPE_CHECKING:
    from adsynth.benchmark.config import DatasetSpec, ModelSpec

FEWSHOT_KEYS = ("k", "folds", "pool", "seed")
#: the metrics of the report, the first one plotted
CURVE_METRICS = ("aupro", "pixel_auroc", "image_auroc")
MEAN = "mean"
ALL = "all"
COLUMNS = ["group", "condition", "k", "defect_type", "metric", "mean", "sd", "n_folds", "from_k0"]
FILES = ("fewshot.md", "fewshot.csv", "fewshot.json", "fewshot.png")


def _is_int(value: Any, minimum: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def expand(name: str, raw: Any) -> list[dict[str, int]]:
    """The ``{k, fold, pool, seed}`` of every dataset of the ``fewshot`` entry ``name``, fold by fold
    (each fold's curve is complete before the next); ``pool`` defaults to the largest K, ``folds`` to 1.

    Example:
        >>> [(s["k"], s["fold"]) for s in expand("mt", {"k": [0, 2], "folds": 2})]
        [(0, 0), (2, 0), (0, 1), (2, 1)]
    """
    where = f"dataset {name!r} fewshot"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping {{k: [0, 1, 5], folds: 3, pool: 5, seed: 0}}")
    bad = sorted(set(raw) - set(FEWSHOT_KEYS))
    if bad:
        raise ConfigError(f"{where}: unknown key {bad[0]!r} (valid: {', '.join(FEWSHOT_KEYS)})")
    ks = raw.get("k")
    if not isinstance(ks, list) or not ks or len(set(ks)) != len(ks) or not all(map(_is_int, ks)):
        raise ConfigError(f"{where}: expected `k` to be a list of distinct ints >= 0, got {ks!r}")
    folds, pool, seed = raw.get("folds", 1), raw.get("pool", max(ks)), raw.get("seed", 0)
    if not _is_int(folds, 1):
        raise ConfigError(f"{where}: expected `folds` to be a positive int, got {folds!r}")
    if not _is_int(pool, max(ks)):
        raise ConfigError(f"{where}: expected `pool` to be an int >= the largest K ({max(ks)}), got {pool!r}")
    if not _is_int(seed):
        raise ConfigError(f"{where}: expected `seed` to be an int >= 0, got {seed!r}")
    return [{"k": k, "fold": f, "pool": pool, "seed": seed} for f in range(folds) for k in sorted(ks)]


def runs_on(model: ModelSpec, dataset: DatasetSpec) -> bool:
    """The K rule: on a ``fewshot`` dataset a model without real defects runs only at K = 0, a model
    with real defects only at K >= 1; on any other dataset every model runs."""
    if dataset.fewshot is None:
        return True
    return (model.real_defects == "none") == (dataset.fewshot["k"] == 0)


def check_k_rule(models: list[ModelSpec], datasets: list[DatasetSpec]) -> None:
    """Every model has a K of every ``fewshot`` entry to run at (:func:`runs_on`)."""
    groups: dict[str, list[DatasetSpec]] = defaultdict(list)
    for d in datasets:
        if d.group is not None:
            groups[d.group].append(d)
    for group, ds in groups.items():
        for m in models:
            if not any(runs_on(m, d) for d in ds):
                need = "K = 0" if m.real_defects == "none" else "a K >= 1"
                raise ConfigError(
                    f"model {m.label!r} (real_defects {m.real_defects}) runs at {need} only: "
                    f"add one to datasets.{group}.fewshot.k"
                )


def condition(rec: dict[str, Any]) -> str:
    """A cell record's condition: its model entry, with the recipe when it was trained with one."""
    return rec["model"] if rec.get("recipe_source") is None else f"{rec['model']}/{rec['recipe']}"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _sd(values: list[float]) -> float:
    if len(values) < 2:
        return math.nan
    m = _mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def _order(values) -> list:
    return list(dict.fromkeys(values))


def curve_rows(records: list[dict], fewshot: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The learning-curve table: one row per (entry, condition, K, defect type, metric).

    Args:
        records: finished cells' records (``cell.json``); those of other datasets are ignored.
        fewshot: dataset name -> ``{"group", "k", "fold"}`` (the manifest's ``fewshot``).
    """
    ks: dict[str, list[int]] = defaultdict(list)
    for info in fewshot.values():
        ks[info["group"]].append(info["k"])
    # (group, condition, k, fold, type, metric) -> one value per seed
    seeds: dict[tuple, list[float]] = defaultdict(list)
    types: dict[str, list[str]] = defaultdict(list)
    for rec in records:
        info = fewshot.get(rec["dataset"])
        if info is None:
            continue
        g = info["group"]
        for r in rec["rows"]:
            if r["metric"] in CURVE_METRICS and r["value"] is not None and not math.isnan(r["value"]):
                key = (g, condition(rec), info["k"], info["fold"], r["defect_type"], r["metric"])
                seeds[key].append(float(r["value"]))
                types[g].append(r["defect_type"])
    folds: dict[tuple, float] = {key: _mean(v) for key, v in seeds.items()}
    # the mean over the defect types, per fold
    per_fold: dict[tuple, list[float]] = defaultdict(list)
    for (g, c, k, f, t, m), v in folds.items():
        if t != ALL:
            per_fold[(g, c, k, f, MEAN, m)].append(v)
    folds.update({key: _mean(v) for key, v in per_fold.items()})
    # (group, condition, k, type, metric) -> fold values
    by: dict[tuple, list[float]] = defaultdict(list)
    for (g, c, k, _f, t, m), v in folds.items():
        by[(g, c, k, t, m)].append(v)
    rows = []
    for g in _order(info["group"] for info in fewshot.values()):
        order = [t for t in _order(types[g]) if t != ALL] + [MEAN] + ([ALL] if ALL in types[g] else [])
        conds = _order(c for (gg, c, *_rest) in by if gg == g)
        for c in conds:
            measured = sorted({k for (gg, cc, k, *_rest) in by if gg == g and cc == c})
            k0_only = measured == [0]
            for k in sorted(set(ks[g])) if k0_only else measured:
                for t in order:
                    for m in CURVE_METRICS:
                        vals = by.get((g, c, 0 if k0_only else k, t, m), [])
                        if vals:
                            stats = {"mean": _mean(vals), "sd": _sd(vals), "n_folds": len(vals)}
                            key = dict(zip(COLUMNS, (g, c, k, t, m), strict=False))
                            rows.append({**key, **stats, "from_k0": k0_only and k != 0})
    return rows


def _num(v: float) -> str:
    return "" if math.isnan(v) else f"{v:.4f}"


def fewshot_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "mean": _num(r["mean"]), "sd": _num(r["sd"])})
    return buf.getvalue()


def _cell(r: dict | None) -> str:
    if r is None:
        return "–"
    sd = "" if math.isnan(r["sd"]) else f" ± {r['sd']:.3f}"
    return f"{r['mean']:.3f}{sd}" + (" *" if r["from_k0"] else "")


def _synthetic(info: dict[str, Any]) -> str:
    """The `synthetic` column: `yes` (a recipe's image-space defects), `feature noise`, or `no`."""
    if info.get("synthetic") is False:
        return "no"
    if info.get("uses_synthetic") is not False:
        return "yes"
    return "feature noise" if info.get("feature_noise") else "no"


def fewshot_markdown(rows: list[dict], conditions: dict[str, dict[str, Any]]) -> str:
    """Per entry and metric, a table: condition × K rows, defect types (and mean, all) columns."""
    from adsynth.evaluate.report import METRICS

    lines = [
        "# Few real defects: learning curves",
        "",
        "Mean ± fold-to-fold sd (seeds averaged within a fold) against K, the real defective photos per "
        "defect type in the training split; one fold's test set is the same for every K. `mean`: the mean "
        "over the defect types; `all`: the pooled evaluation. `*`: a condition without real defects, "
        "measured at K = 0 only, shown at every K.",
        "",
        "| condition | model | recipe | real defects | synthetic |",
        "|---|---|---|---|---|",
    ]
    for c, info in conditions.items():
        lines.append(
            f"| {c} | {info['model_name']} | {info['recipe']} | {info.get('real_defects') or 'none'} | "
            f"{_synthetic(info)} |"
        )
    index = {(r["group"], r["condition"], r["k"], r["defect_type"], r["metric"]): r for r in rows}
    for g in _order(r["group"] for r in rows):
        sel = [r for r in rows if r["group"] == g]
        types = _order(r["defect_type"] for r in sel)
        folds = max(r["n_folds"] for r in sel)
        for m in CURVE_METRICS:
            lines += ["", f"## {g}: {METRICS.get(m, m)} ({folds} fold{'s' if folds > 1 else ''})", ""]
            lines.append("| condition | K | " + " | ".join(types) + " |")
            lines.append("|---|---:|" + "---:|" * len(types))
            for c, k in _order((r["condition"], r["k"]) for r in sel):
                cells = [_cell(index.get((g, c, k, t, m))) for t in types]
                lines.append(f"| {c} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def fewshot_png(rows: list[dict], metric: str = CURVE_METRICS[0]) -> bytes:
    """``metric`` against K: a row of panels per entry (one per defect type and the mean), one line
    (± fold sd) per condition; conditions measured at K = 0 only are dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from adsynth.evaluate.report import METRICS

    sel = [r for r in rows if r["metric"] == metric and r["defect_type"] != ALL]
    groups = _order(r["group"] for r in sel) or [""]
    panels = {g: _order(r["defect_type"] for r in sel if r["group"] == g) for g in groups}
    ncol = max((len(p) for p in panels.values()), default=1) or 1
    fig, axes = plt.subplots(
        len(groups), ncol, figsize=(2.8 * ncol, 2.6 * len(groups)), squeeze=False, sharey=True
    )
    conds = _order(r["condition"] for r in sel)
    colours = {c: plt.get_cmap("tab10")(i % 10) for i, c in enumerate(conds)}
    for gi, g in enumerate(groups):
        for ti in range(ncol):
            ax = axes[gi][ti]
            if ti >= len(panels[g]):
                ax.axis("off")
                continue
            t = panels[g][ti]
            for c in conds:
                mine = [r for r in sel if (r["group"], r["defect_type"], r["condition"]) == (g, t, c)]
                pts = sorted((r["k"], r["mean"], r["sd"], r["from_k0"]) for r in mine)
                if not pts:
                    continue
                ks = [p[0] for p in pts]
                mean = [p[1] for p in pts]
                sd = [0.0 if math.isnan(p[2]) else p[2] for p in pts]
                ls = "--" if any(p[3] for p in pts) else "-"
                ax.plot(ks, mean, ls=ls, marker="o", ms=3, color=colours[c], label=c)
                lo = [m - s for m, s in zip(mean, sd, strict=True)]
                hi = [m + s for m, s in zip(mean, sd, strict=True)]
                ax.fill_between(ks, lo, hi, color=colours[c], alpha=0.15, lw=0)
            ax.set_title(f"{g}: {t}" if g else t, fontsize=9)
            ax.set_xticks(sorted({r["k"] for r in sel if r["group"] == g}))
            ax.grid(alpha=0.3)
            if gi == len(groups) - 1:
                ax.set_xlabel("K real defects per type", fontsize=8)
            if ti == 0:
                ax.set_ylabel(METRICS.get(metric, metric), fontsize=8)
    if conds:
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(conds), 6), fontsize=8,
                   bbox_to_anchor=(0.5, -0.02 - 0.03 * (len(conds) // 6)))  # fmt: skip
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def write_fewshot_report(
    out: str | os.PathLike, manifest: dict[str, Any], sources: list[Path] | None = None
) -> list[Path]:
    """Write ``fewshot.md``, ``.csv``, ``.json`` and ``.png`` into ``out`` from the finished cells.

    Args:
        out: the benchmark folder (the files go there).
        manifest: ``benchmark.json``'s content (:meth:`~adsynth.benchmark.config.BenchConfig.to_dict`);
            without a ``fewshot`` map nothing is written.
        sources: folders holding ``cells/`` (default ``[out]``).

    Example:
        >>> write_fewshot_report("bench/", json.load(open("bench/benchmark.json")))  # doctest: +SKIP
    """
    from adsynth.benchmark.results import collect

    fewshot = manifest.get("fewshot")
    if not fewshot:
        return []
    out = Path(out)
    records, _missing, _failed = collect(sources or [out], manifest)
    records = [r for r in records if r["dataset"] in fewshot]
    rows = curve_rows(records, fewshot)
    conditions: dict[str, dict[str, Any]] = {}
    for r in records:
        conditions.setdefault(
            condition(r),
            {
                k: r.get(k)
                for k in (
                    "model",
                    "model_name",
                    "recipe",
                    "real_defects",
                    "synthetic",
                    "uses_synthetic",
                    "feature_noise",
                )
            },
        )
    paths = [out / name for name in FILES]
    atomic_write_bytes(paths[0], fewshot_markdown(rows, conditions).encode("utf-8"))
    atomic_write_bytes(paths[1], fewshot_csv(rows).encode("utf-8"))
    doc = {
        "format": "adsynth-fewshot",
        "config_hash": manifest.get("config_hash"),
        "metrics": list(CURVE_METRICS),
        "datasets": fewshot,
        "conditions": conditions,
        "columns": COLUMNS,
        "rows": [{**r, "mean": None if math.isnan(r["mean"]) else r["mean"],
                  "sd": None if math.isnan(r["sd"]) else r["sd"]} for r in rows],
    }  # fmt: skip
    atomic_write_bytes(paths[2], (json.dumps(doc, indent=1) + "\n").encode("utf-8"))
    atomic_write_bytes(paths[3], fewshot_png(rows))
    return paths


__all__ = [
    "CURVE_METRICS", "check_k_rule", "condition", "curve_rows", "expand", "fewshot_markdown", "runs_on",
    "write_fewshot_report",
]  # fmt: skip

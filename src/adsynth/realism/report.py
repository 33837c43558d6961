"""Write a :class:`~adsynth.realism.score.ScoreTable`: ``score.md``, ``score.csv``, ``score.json`` and
``score.png`` (the recipe × defect type heat map), each atomically.

Numbers are rounded to 6 significant digits and nothing time-dependent is written, so the same seed
gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from adsynth.errors import OutputExistsError
from adsynth.fsutil import atomic_write_bytes
from adsynth.realism.score import BASELINE, RecipeScore, ScoreTable
from adsynth.realism.stats import STATS

FILES = ("score.md", "score.csv", "score.json", "score.png")


def check_out_dir(out: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse a folder that holds files unless ``overwrite`` (before any work is done)."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise OutputExistsError(f"{p} exists and is not a folder")
    if p.is_dir() and any(p.iterdir()) and not overwrite:
        raise OutputExistsError(f"{p} exists and is not empty (pass --overwrite to replace it)")
    return p


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(f"{x:.6g}")


def _fmt(x: float, digits: int = 3) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return _num(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _cell(rows: list[RecipeScore], recipe: str, t: str) -> RecipeScore | None:
    return next((r for r in rows if r.recipe == recipe and r.defect_type == t), None)


def score_markdown(table: ScoreTable) -> str:
    m = table.meta
    types = table.defect_types
    counts = ", ".join(f"{t} {n}" for t, n in m["real_counts"].items())
    lines = [
        "# Recipe realism scores",
        "",
        f"Data `{m['data']}`: real defects from the {m['real_split']} split ({counts}), "
        f"{m['n_normal']} normal training images; {m['image_size']} px, {m['samples']} synthetic regions "
        f"per recipe, seed {m['seed']}; backbone `{m['backbone']}` ({m['weights']}).",
        "",
        "Score = appearance + geometry: squared MMD between the synthetic and the real defect regions, on "
        'mask-pooled backbone features and on region statistics (docs/RECIPES.md, "Which recipe fits my '
        f'line?"). Lower is more alike; `{BASELINE}` lays the real masks on normal images.',
        "",
        "## Score (recipe × defect type)",
        "",
        "| recipe | " + " | ".join(types) + " | mean |",
        "|---|" + "---:|" * (len(types) + 1),
    ]
    means = table.mean_scores()
    for name in [*table.recipes, BASELINE]:
        rows = table.baseline if name == BASELINE else table.rows
        vals = [c.score if (c := _cell(rows, name, t)) else float("nan") for t in types]
        mean = means.get(name, float(np.mean(vals)))
        lines.append(f"| {name} | " + " | ".join(_fmt(v) for v in vals) + f" | {_fmt(mean)} |")
    best = []
    for t in types:
        scored = [r for r in table.rows if r.defect_type == t and math.isfinite(r.score)]
        if scored:
            best.append(f"{t}: **{min(scored, key=lambda r: r.score).recipe}**")
    if best:
        lines += ["", "Closest recipe per defect type: " + "; ".join(best) + "."]
    lines += [
        "",
        "## Region statistics",
        "",
        "Means per region; Δ = synthetic − real. Area: fraction of the image; elongation: axis ratio of "
        "the mask's second moments; contrast: grey levels inside minus a ring around; sharpness: gradient "
        "magnitude on the mask border (grey levels per pixel).",
        "",
        "| defect type | recipe | n | appearance | geometry | area | Δ area | elongation | Δ elong. "
        "| contrast | Δ contrast | sharpness | Δ sharpness | note |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t in types:
        real = next(r for r in table.baseline if r.defect_type == t)
        rs = real.real_stats
        lines.append(
            f"| {t} | *real* | {real.n_real} | | | {rs['area']:.4f} | | {_fmt(rs['elongation'], 2)} | "
            f"| {_fmt(rs['contrast'], 1)} | | {_fmt(rs['sharpness'], 1)} | | |"
        )
        for r in [*(x for x in table.rows if x.defect_type == t), real]:
            s, d = r.synthetic_stats, r.stat_diffs
            lines.append(
                f"| {t} | {r.recipe} | {r.n_synthetic} | {_fmt(r.appearance)} | {_fmt(r.geometry)} "
                f"| {_fmt(s['area'], 4)} | {_fmt(d['area'], 4)} | {_fmt(s['elongation'], 2)} "
                f"| {_fmt(d['elongation'], 2)} | {_fmt(s['contrast'], 1)} | {_fmt(d['contrast'], 1)} "
                f"| {_fmt(s['sharpness'], 1)} | {_fmt(d['sharpness'], 1)} | {r.note} |"
            )
    return "\n".join(lines) + "\n"


def score_csv(table: ScoreTable) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "recipe",
            "defect_type",
            "score",
            "appearance",
            "geometry",
            "n_real",
            "n_synthetic",
            *(f"{k}_{s}" for s in STATS for k in ("real", "synthetic", "diff")),
            "note",
        ]
    )
    for r in [*table.rows, *table.baseline]:
        stats = [_num(v) for s in STATS for v in (r.real_stats[s], r.synthetic_stats[s], r.stat_diffs[s])]
        w.writerow(
            [
                r.recipe,
                r.defect_type,
                _num(r.score),
                _num(r.appearance),
                _num(r.geometry),
                r.n_real,
                r.n_synthetic,
                *["" if v is None else v for v in stats],
                r.note,
            ]
        )
    return buf.getvalue().encode("utf-8")


def score_json(table: ScoreTable) -> bytes:
    doc = {
        "meta": table.meta,
        "mean_scores": table.mean_scores(),
        "rows": [r.to_dict() for r in table.rows],
        "baseline": [r.to_dict() for r in table.baseline],
    }
    return (json.dumps(_clean(doc), indent=2, allow_nan=False) + "\n").encode("utf-8")


def heatmap_png(table: ScoreTable) -> bytes:
    """The recipe × defect type heat map of the score (the baseline as the last row)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    types, names = table.defect_types, [*table.recipes, BASELINE]
    grid = np.full((len(names), len(types)), np.nan)
    for i, name in enumerate(names):
        rows = table.baseline if name == BASELINE else table.rows
        for j, t in enumerate(types):
            c = _cell(rows, name, t)
            grid[i, j] = c.score if c is not None else np.nan
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(types), 0.9 + 0.45 * len(names)))
    finite = grid[np.isfinite(grid)]
    vmax = float(finite.max()) if finite.size else 1.0
    im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis_r", vmin=min(0.0, float(finite.min(initial=0))),
                   vmax=max(vmax, 1e-6), aspect="auto")  # fmt: skip
    ax.set_xticks(range(len(types)), types, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(types)):
            v = grid[i, j]
            ax.text(j, i, "–" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center",
                    color="white" if np.isfinite(v) and v > 0.6 * vmax else "black", fontsize=8)  # fmt: skip
    m = table.meta
    ax.set_title(f"realism score (lower = more alike), {m['image_size']} px, seed {m['seed']}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.05)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def write_score_report(table: ScoreTable, out: str | os.PathLike, overwrite: bool = False) -> list[Path]:
    """Write :data:`FILES` into ``out`` (created; refused when it holds files, unless ``overwrite``).

    Returns:
        The paths written.
    """
    p = check_out_dir(out, overwrite)
    p.mkdir(parents=True, exist_ok=True)
    parts = {
        "score.md": score_markdown(table).encode("utf-8"),
        "score.csv": score_csv(table),
        "score.json": score_json(table),
        "score.png": heatmap_png(table),
    }
    for name, data in parts.items():
        atomic_write_bytes(p / name, data)
    return [p / n for n in FILES]

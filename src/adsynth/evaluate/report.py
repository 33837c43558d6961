"""Per-defect-type evaluation report (protocol in ``docs/EVALUATION.md``).

For each defect type ``t`` every metric is computed on the normal test images together with the
images of type ``t`` (the per-type tables of MVTec AD); the ``all`` row uses the whole test set.
Each group of images (the normal ones, each defect type) is summarised and sorted once; every row
combines the summaries of its groups instead of re-reading the maps. The padding of a letterboxed image
(a sample's ``photo_box``) is left out of every pixel metric, and the report says how much there was.

Example:
    >>> import numpy as np
    >>> good = MapSample("good/0", np.zeros((4, 4)), None, 0, "good")
    >>> mask = np.zeros((4, 4), np.uint8); mask[0, 0] = 1
    >>> bad = MapSample("crack/0", mask.astype(float), mask, 1, "crack")
    >>> report = evaluate([good, bad])
    >>> report.rows["crack"]["image_auroc"], report.rows["all"]["aupro"]
    (1.0, 1.0)
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adsynth.errors import ConfigError, DataError, OutputExistsError
from adsynth.evaluate.metrics import (
    DEFAULT_PRO_LIMIT,
    PixelAccumulator,
    Undefined,
    check_limit,
    combine_image_metrics,
    pixel_metrics_and_pro_curve,
    roc_curve,
)
from adsynth.evaluate.samples import MapSample, check_sample, scored_pixels
from adsynth.fsutil import atomic_write_bytes

__all__ = ["MapSample", "ImageRow", "Report", "METRICS", "evaluate", "write_report"]

#: Metric keys in report order, with their display names.
METRICS: dict[str, str] = {
    "image_auroc": "image AUROC",
    "image_f1_max": "image F1-max",
    "pixel_auroc": "pixel AUROC",
    "pixel_ap": "pixel AP",
    "pixel_f1_max": "pixel F1-max",
    "aupro": "AUPRO",
}
ALL = "all"
_MAX_CURVE_POINTS = 2000


@dataclass
class ImageRow:
    name: str
    defect_type: str
    label: int
    score: float


@dataclass
class OverlayItem:
    kind: str  # best_anomalous, worst_anomalous, best_normal, worst_normal
    rank: int
    name: str
    score: float
    anomaly_map: np.ndarray
    mask: np.ndarray
    defect_type: str = ""
    label: int = 0


@dataclass
class Report:
    """Result of :func:`evaluate`.

    Attributes:
        rows: defect type (and ``"all"``, last) → metric key → float or :class:`Undefined`.
        counts: defect type → ``n_normal``, ``n_anomalous``, ``n_regions``, ``n_pixels``.
        per_image: one row per sample, in input order.
        pro_limit: the AUPRO integration limit.
        roc_curves / pro_curves: per row, for plotting (PRO thinned to a few thousand vertices).
        overlays: the best/worst scored anomalous and normal images (maps at mask resolution).
        score_range: min and max pixel score over all maps (display range of the overlays).
        notes: what was done to the input that a reader must know (maps resized, scores missing,
            letterbox padding left out).
    """

    rows: dict[str, dict[str, float | Undefined]]
    counts: dict[str, dict[str, int]]
    per_image: list[ImageRow]
    pro_limit: float
    roc_curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    pro_curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    overlays: list[OverlayItem] = field(default_factory=list)
    score_range: tuple[float, float] = (0.0, 1.0)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content: undefined metrics are ``null`` with their reason under ``undefined``."""
        rows = []
        for name, metrics in self.rows.items():
            values = {k: (None if isinstance(v, Undefined) else v) for k, v in metrics.items()}
            reasons = {k: v.reason for k, v in metrics.items() if isinstance(v, Undefined)}
            rows.append({"defect_type": name, **self.counts[name], "metrics": values, "undefined": reasons})
        return {
            "format": "adsynth-metrics",
            "format_version": 1,
            "protocol": "per defect type: normal test images + images of that type; 'all': whole test set",
            "pro_limit": self.pro_limit,
            "notes": list(self.notes),
            "rows": rows,
        }


class _Group:
    def __init__(self) -> None:
        self.pixels = PixelAccumulator(limit=1.0)
        self.scores: list[float] = []


class _Extremes:
    """Keeps the n highest-keyed items seen (a small heap), for the overlay pictures."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.heap: list[tuple[float, int, Any]] = []
        self.counter = 0

    def offer(self, key: float, make_item: Callable[[], Any]) -> None:
        if self.n <= 0:
            return
        self.counter += 1
        if len(self.heap) < self.n:
            heapq.heappush(self.heap, (key, -self.counter, make_item()))
        elif key > self.heap[0][0]:
            heapq.heapreplace(self.heap, (key, -self.counter, make_item()))

    def best_first(self) -> list[Any]:
        return [item for _, _, item in sorted(self.heap, reverse=True)]


def _sort_key(metric: str | None, rows: dict[str, dict]) -> Callable[[str], Any]:
    if metric is None:
        return lambda name: name
    if metric not in METRICS:
        raise ConfigError(f"expected `sort_by` to be one of {', '.join(METRICS)}, got {metric!r}")

    def key(name: str) -> Any:
        v = rows[name][metric]
        return (1, 0.0, name) if isinstance(v, Undefined) else (0, -v, name)

    return key


def evaluate(
    samples: Iterable[MapSample | Mapping[str, Any]],
    *,
    limit: float = DEFAULT_PRO_LIMIT,
    sort_by: str | None = None,
    n_overlays: int = 2,
) -> Report:
    """Score a test set per defect type (see ``docs/EVALUATION.md`` for the protocol).

    Args:
        samples: records with ``name``, ``anomaly_map``, ``mask``, ``label``, ``defect_type`` and
            optionally ``score`` (:class:`MapSample` or mappings); read once, in one pass.
        limit: AUPRO integration limit (false-positive rate) in (0, 1].
        sort_by: order the defect-type rows by this metric (descending, undefined last) instead of by
            name; ``all`` always comes last.
        n_overlays: how many best and worst anomalous and normal images to keep for the overlays.

    Returns:
        The :class:`Report`.

    Raises:
        DataError: NaN/inf in a map, a non-binary mask, a duplicate name, a bad label, no samples.

    Example:
        >>> import numpy as np
        >>> rep = evaluate([{"name": "a", "anomaly_map": np.zeros((2, 2)), "mask": None,
        ...                  "label": 0, "defect_type": "good"}])
        >>> print(rep.rows["all"]["image_auroc"])
        undefined (no anomalous images)
    """
    limit = check_limit(limit)
    normal = _Group()
    types: dict[str, _Group] = {}
    per_image: list[ImageRow] = []
    seen: set[str] = set()
    lo, hi = math.inf, -math.inf
    extremes = {
        "best_anomalous": _Extremes(n_overlays),
        "worst_anomalous": _Extremes(n_overlays),
        "best_normal": _Extremes(n_overlays),
        "worst_normal": _Extremes(n_overlays),
    }
    resized_from: dict[tuple[int, int], int] = {}
    n_missing_scores = n_padding = n_pixels = 0
    for index, sample in enumerate(samples):
        checked = check_sample(sample, index)
        name, amap, mask, label, defect_type, score, resized, _ = checked
        if resized is not None:
            resized_from[resized] = resized_from.get(resized, 0) + 1
        n_missing_scores += score is None
        if name in seen:
            raise DataError(f"sample {name!r} (#{index}): duplicate sample name")
        seen.add(name)
        if label > 0 and defect_type == ALL:
            raise DataError(f"sample {name!r}: defect type {ALL!r} is reserved for the overall row")
        # A letterbox's padding holds no photo: it is left out of the pixel metrics, the colour scale
        # and the map maximum that stands in for a missing score.
        photo_map, photo_mask = scored_pixels(checked)
        n_padding += checked.n_padding
        n_pixels += mask.size
        amin, amax = float(photo_map.min()), float(photo_map.max())
        lo, hi = min(lo, amin), max(hi, amax)
        score = amax if score is None else score
        group = normal if label == 0 else types.setdefault(defect_type, _Group())
        group.pixels.add(photo_map, photo_mask, f"sample {name!r}")
        group.scores.append(score)
        per_image.append(ImageRow(name, defect_type, label, score))

        def item(kind: str, amap=amap, mask=mask, name=name, score=score, dt=defect_type, lb=label):
            return lambda: OverlayItem(kind, 0, name, score, amap.copy(), mask.copy(), dt, lb)

        if label > 0:
            extremes["best_anomalous"].offer(score, item("best_anomalous"))
            extremes["worst_anomalous"].offer(-score, item("worst_anomalous"))
        else:
            extremes["best_normal"].offer(-score, item("best_normal"))
            extremes["worst_normal"].offer(score, item("worst_normal"))
    if not per_image:
        raise DataError("no samples to evaluate")

    normal_summary = normal.pixels.summary()
    normal_scores = np.sort(np.asarray(normal.scores, dtype=np.float64))
    row_groups: dict[str, list[_Group]] = {t: [types[t]] for t in types}
    row_groups[ALL] = list(types.values())
    rows: dict[str, dict[str, float | Undefined]] = {}
    counts: dict[str, dict[str, int]] = {}
    roc_curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    pro_curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for row, groups in row_groups.items():
        summaries = [normal_summary] + [g.pixels.summary() for g in groups]
        poss = [np.sort(np.asarray(g.scores, dtype=np.float64)) for g in groups]
        metrics = combine_image_metrics([normal_scores], poss)
        pixel, curve = pixel_metrics_and_pro_curve(summaries, limit, _MAX_CURVE_POINTS)
        metrics.update(pixel)
        rows[row] = {k: metrics[k] for k in METRICS}
        n_anomalous = sum(p.size for p in poss)
        counts[row] = {
            "n_normal": int(normal_scores.size),
            "n_anomalous": int(n_anomalous),
            "n_regions": int(sum(s.n_regions for s in summaries)),
            "n_pixels": int(sum(s.n_ok + s.n_defect for s in summaries)),
        }
        if normal_scores.size and n_anomalous:
            scores = np.concatenate([normal_scores, *poss])
            labels = np.r_[np.zeros(normal_scores.size), np.ones(n_anomalous)]
            fpr, tpr, _ = roc_curve(scores, labels)
            roc_curves[row] = (fpr, tpr)
        if not isinstance(curve, Undefined):
            pro_curves[row] = curve

    order = sorted(types, key=_sort_key(sort_by, rows)) + [ALL]
    overlays = []
    for kind, ext in extremes.items():
        for rank, it in enumerate(ext.best_first(), start=1):
            it.kind, it.rank = kind, rank
            overlays.append(it)
    return Report(
        rows={r: rows[r] for r in order},
        counts={r: counts[r] for r in order},
        per_image=per_image,
        pro_limit=limit,
        roc_curves={r: roc_curves[r] for r in order if r in roc_curves},
        pro_curves={r: pro_curves[r] for r in order if r in pro_curves},
        overlays=overlays,
        score_range=(lo, hi),
        notes=_notes(resized_from, n_missing_scores, len(per_image), n_padding / n_pixels),
    )


def _notes(
    resized_from: dict[tuple[int, int], int], n_missing_scores: int, n: int, padding: float
) -> list[str]:
    notes = [
        f"{k} of {n} anomaly maps were {h}×{w}, resized (bilinear) to their masks' size"
        for (h, w), k in sorted(resized_from.items())
    ]
    if n_missing_scores:
        notes.append(
            f"{n_missing_scores} of {n} samples had no image score (NaN or none given): "
            "the maximum of the anomaly map was used"
        )
    if padding:
        notes.append(
            "pixels outside the photos (letterbox padding of a `pad` import) are left out: "
            f"{100 * padding:.1f} % of pixels"
        )
    return notes


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def _fmt(v: float | Undefined) -> str:
    return "n/a" if isinstance(v, Undefined) else f"{v:.4f}"


def format_markdown(report: Report) -> str:
    heads = [METRICS[k] + (f"@{report.pro_limit:g}" if k == "aupro" else "") for k in METRICS]
    lines = [
        "# Evaluation",
        "",
        "Per defect type: the normal test images together with the images of that type; "
        f"`{ALL}`: the whole test set. AUPRO: official MVTec AD algorithm, FPR limit {report.pro_limit:g}.",
        "",
        "| defect type | normal | anomalous | regions | " + " | ".join(heads) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(heads),
    ]
    notes: list[str] = []
    for row, metrics in report.rows.items():
        c = report.counts[row]
        cells = []
        for k, v in metrics.items():
            if isinstance(v, Undefined):
                notes.append(f"- `{row}` {METRICS[k]}: undefined, {v.reason}.")
            cells.append(_fmt(v))
        counts = f"{c['n_normal']} | {c['n_anomalous']} | {c['n_regions']}"
        lines.append(f"| {row} | {counts} | " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "n/a = undefined:", "", *notes]
    if report.notes:
        lines += ["", "Notes:", "", *(f"- {n}." for n in report.notes)]
    return "\n".join(lines) + "\n"


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:80] or "sample"


def write_report(
    report: Report,
    out_dir: str | os.PathLike,
    overwrite: bool = False,
    get_image: Callable[[str], np.ndarray] | None = None,
) -> list[Path]:
    """Write ``metrics.md/.csv/.json``, ``per_image.csv``, ``roc.png``, ``pro.png`` and ``overlays/``.

    Args:
        report: from :func:`evaluate`.
        out_dir: created if missing; must be empty unless ``overwrite``.
        overwrite: replace the files of an existing report.
        get_image: ``name -> uint8 image`` for the overlay backgrounds; without it the overlays show
            the heat map alone.

    Returns:
        The paths written. Every file is written atomically (temporary name, then rename).

    Raises:
        OutputExistsError: ``out_dir`` is not empty and ``overwrite`` is False.
    """
    from adsynth.evaluate import plots

    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"output directory {str(out)!r} is not empty (use overwrite)")
    (out / "overlays").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(rel: str, data: bytes) -> None:
        path = out / rel
        atomic_write_bytes(path, data)
        written.append(path)

    put("metrics.md", format_markdown(report).encode("utf-8"))
    header = ["defect_type", "n_normal", "n_anomalous", "n_regions", "n_pixels", *METRICS, "undefined"]
    rows = []
    for row, metrics in report.rows.items():
        c = report.counts[row]
        values = ["" if isinstance(v, Undefined) else repr(float(v)) for v in metrics.values()]
        why = "; ".join(f"{k}: {v.reason}" for k, v in metrics.items() if isinstance(v, Undefined))
        rows.append([row, c["n_normal"], c["n_anomalous"], c["n_regions"], c["n_pixels"], *values, why])
    put("metrics.csv", _csv(header, rows))
    put("metrics.json", (json.dumps(report.to_dict(), indent=2) + "\n").encode("utf-8"))
    put(
        "per_image.csv",
        _csv(
            ["name", "defect_type", "label", "score"],
            [[r.name, r.defect_type, r.label, repr(float(r.score))] for r in report.per_image],
        ),
    )
    aurocs = {r: report.rows[r]["image_auroc"] for r in report.rows}
    aupros = {r: report.rows[r]["aupro"] for r in report.rows}
    put("roc.png", plots.roc_figure(report.roc_curves, aurocs))
    put("pro.png", plots.pro_figure(report.pro_curves, aupros, report.pro_limit))
    lo, hi = report.score_range
    for it in report.overlays:
        image = get_image(it.name) if get_image is not None else None
        caption = f"{it.name} | {it.defect_type} (label {it.label}) | score {it.score:.4g}"
        picture = plots.overlay(image, it.anomaly_map, it.mask, lo, hi, caption=caption, score=it.score)
        put(
            f"overlays/{it.kind}_{it.rank}_{_safe(os.path.splitext(it.name)[0])}.png",
            plots.encode_png(picture),
        )
    return written

"""AUPRO exactly as the official MVTec AD script, computed from sorted pixel summaries.

The curve is never sampled on a threshold grid: its segments are generated block by block from the
sorted defect-free scores (see ``docs/EVALUATION.md``). The public functions are
:func:`adsynth.evaluate.metrics.aupro` and :func:`~adsynth.evaluate.metrics.pro_curve`.

Example:
    >>> import numpy as np
    >>> from adsynth.evaluate.accumulators import PixelAccumulator
    >>> from adsynth.evaluate.pro import combine_pixel_metrics
    >>> acc = PixelAccumulator()
    >>> acc.update([np.array([[0.9, 0.8], [0.1, 0.7]])], [np.array([[1, 1], [0, 0]])])
    >>> round(combine_pixel_metrics([acc.summary()])["aupro"], 6)
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from adsynth.evaluate.ranking import (
    Undefined,
    auroc_sorted,
    average_precision_sorted,
    check_limit,
    f1_max_sorted,
    merge_sorted,
    unique_sorted,
)

if TYPE_CHECKING:
    from adsynth.evaluate.accumulators import PixelSummary

DEFAULT_PRO_LIMIT = 0.3


def _float32_key(v: float) -> int:
    """Order-preserving int of a float32 (for bisection over values)."""
    b = int(np.array(v, dtype=np.float32).view(np.int32))
    return b if b >= 0 else b ^ 0x7FFFFFFF


def _key_float32(key: int) -> np.float32:
    b = key if key >= 0 else key ^ 0x7FFFFFFF
    return np.array(b, dtype=np.int32).view(np.float32)[()]


def _kth_largest(arrays: Sequence[np.ndarray], k: int) -> np.float32:
    """The k-th largest element over several ascending float32 arrays, without merging them."""
    nonempty = [a for a in arrays if a.size]
    if len(nonempty) == 1:
        return nonempty[0][nonempty[0].size - k]
    lo, hi = _float32_key(min(a[0] for a in nonempty)), _float32_key(max(a[-1] for a in nonempty))
    # Largest value v with count(>= v) >= k; it is an element of the data.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        v = _key_float32(mid)
        if sum(a.size - int(np.searchsorted(a, v, side="left")) for a in nonempty) >= k:
            lo = mid
        else:
            hi = mid - 1
    return _key_float32(lo)


_BLOCK = 1 << 16


def pro_segments(summaries: Sequence[PixelSummary], limit: float):
    """Yield, block by block, the segments of the official PRO curve that start left of ``limit``.

    The official curve has one point per distinct score (all pixels pooled); its x only moves at
    scores held by defect-free pixels. So the area is carried by one segment per distinct defect-free
    score s, from (fpr(>s), pro(>s)) to (fpr(>=s), pro(>=s)); the points in between, at scores held by
    defect pixels only, lie on vertical lines and add no area. Yields (x0, y0, x1, y1) arrays in order
    of descending s, a block of at most ~2**16 scores at a time so that memory stays bounded.
    The caller checks there is at least one defect-free pixel and one region.
    """
    n_ok = sum(s.n_ok for s in summaries)
    n_regions = sum(s.n_regions for s in summaries)
    # Only the scores s with fpr(>s) < limit matter: the k-th largest defect-free score bounds them.
    k = min(n_ok, int(np.floor(limit * n_ok)) + 1)
    cut = _kth_largest([s.ok for s in summaries], k)
    relevant = merge_sorted([s.ok[np.searchsorted(s.ok, cut, side="left") :] for s in summaries])
    defects = [s for s in summaries if s.n_defect]
    hi = relevant.size
    while hi > 0:
        # A block holds whole runs of equal scores: move its lower end to the start of its run.
        lo = int(np.searchsorted(relevant, relevant[max(0, hi - _BLOCK)], side="left"))
        values, counts = unique_sorted(relevant[lo:hi])  # ascending within the block
        run_starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        n_ge = (relevant.size - lo) - run_starts
        # pro(>=v) sums the weights of defect pixels d >= v: those above the block, plus those inside
        # it binned by the values they reach (few defect pixels searched among many values).
        bins_ge = np.zeros(values.size + 1)
        bins_gt = np.zeros(values.size + 1)
        above = 0.0
        for s in defects:
            a = int(np.searchsorted(s.defect, values[0], side="left"))
            b = int(np.searchsorted(s.defect, values[-1], side="right"))
            above += s.defect_weight_tail[b]
            inside, w = s.defect[a:b], s.defect_weight[a:b]
            if inside.size:
                bins_ge += np.bincount(np.searchsorted(values, inside, "right"), w, values.size + 1)
                bins_gt += np.bincount(np.searchsorted(values, inside, "left"), w, values.size + 1)
        # Ascending value j collects the bins above j: bins j+1 .. n (ge) and bins j+1 .. n (gt, with
        # pixels tied at v placed at j and so excluded).
        y1 = (above + np.cumsum(bins_ge[::-1])[-2::-1]) / n_regions
        y0 = (above + np.cumsum(bins_gt[::-1])[-2::-1]) / n_regions
        x1 = n_ge / n_ok
        x0 = (n_ge - counts) / n_ok
        # The official script clips both coordinates at 1 (float rounding of the cumulative sums).
        yield tuple(np.minimum(c[::-1], 1.0) for c in (x0, y0, x1, y1))
        hi = lo


def _cut_at_limit(x0, y0, x1, y1, limit: float):
    """Keep the segments left of ``limit``; the crossing one ends at ``limit`` (linear interpolation)."""
    keep = x0 < limit
    if not keep.all():
        x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
    crossing = np.flatnonzero(x1 > limit)
    if crossing.size:
        i = crossing[0]
        x1, y1 = x1.copy(), y1.copy()
        y1[i] = y0[i] + (y1[i] - y0[i]) * (limit - x0[i]) / (x1[i] - x0[i])
        x1[i] = limit
    return x0, y0, x1, y1


def _thin(x: np.ndarray, y: np.ndarray, max_points: int | None):
    if max_points is None or x.size <= max_points:
        return x, y
    keep = np.unique(np.linspace(0, x.size - 1, max_points).astype(np.int64))
    return x[keep], y[keep]


def area_and_curve(blocks, limit: float, max_points: int | None = None):
    """AUPRO area and the curve vertices up to ``limit`` from the blocks of :func:`pro_segments`.

    ``max_points=0`` skips the curve (returned as None).
    """
    area = 0.0
    xs, ys = [np.zeros(1)], [np.zeros(1)]
    for block in blocks:
        x0, y0, x1, y1 = _cut_at_limit(*block, limit)
        area += 0.5 * float(np.dot(y0 + y1, x1 - x0))
        if max_points == 0:
            continue
        x, y = _thin(np.column_stack([x0, x1]).ravel(), np.column_stack([y0, y1]).ravel(), max_points)
        xs.append(x)
        ys.append(y)
    if limit >= 1.0:
        xs.append(np.ones(1))
        ys.append(np.ones(1))
    if max_points == 0:
        return area, None
    fpr, pro = _thin(np.concatenate(xs), np.concatenate(ys), max_points)
    return area, (fpr, pro)


def pro_undefined(summaries: Sequence[PixelSummary]) -> Undefined | None:
    if sum(s.n_regions for s in summaries) == 0:
        return Undefined("no ground-truth regions")
    if sum(s.n_ok for s in summaries) == 0:
        return Undefined("no defect-free pixels")
    return None


def pro_curve_from_summaries(
    summaries: Sequence[PixelSummary], limit: float = 1.0
) -> tuple[np.ndarray, np.ndarray] | Undefined:
    """Vertices ``(fpr, pro)`` of the official PRO curve from (0, 0) up to ``limit``.

    Collinear points on vertical runs are dropped; the last vertex is interpolated at ``limit``; with
    ``limit`` 1 the curve ends at (1, 1).
    """
    undefined = pro_undefined(summaries)
    if undefined is not None:
        return undefined
    return area_and_curve(pro_segments(summaries, limit), limit)[1]


def pixel_metrics_and_pro_curve(
    summaries: Sequence[PixelSummary], limit: float = DEFAULT_PRO_LIMIT, max_points: int | None = None
) -> tuple[dict[str, float | Undefined], tuple[np.ndarray, np.ndarray] | Undefined]:
    """Like :func:`combine_pixel_metrics`, also returning the PRO curve up to ``limit``.

    ``max_points`` thins the returned curve (for plotting; 0: no curve, None: every vertex); the
    AUPRO value always uses every point.
    """
    limit = check_limit(limit)
    negs = [s.ok for s in summaries]
    poss = [s.defect for s in summaries]
    n_ok = sum(s.n_ok for s in summaries)
    if sum(s.n_defect for s in summaries) == 0:
        none = Undefined("no defect pixels in the ground truth")
        return {"pixel_auroc": none, "pixel_ap": none, "pixel_f1_max": none, "aupro": none}, none
    out: dict[str, float | Undefined] = {
        "pixel_auroc": Undefined("no defect-free pixels") if n_ok == 0 else auroc_sorted(negs, poss),
        "pixel_ap": average_precision_sorted(negs, poss),
        "pixel_f1_max": f1_max_sorted(negs, poss),
    }
    undefined = pro_undefined(summaries)
    if undefined is not None:
        out["aupro"] = undefined
        return out, undefined
    area, curve = area_and_curve(pro_segments(summaries, limit), limit, max_points)
    out["aupro"] = float(area / limit)
    return out, curve


def combine_pixel_metrics(summaries: Sequence[PixelSummary], limit: float = DEFAULT_PRO_LIMIT) -> dict:
    """Every pixel metric over the union of several pixel sets, sharing their sorted arrays.

    Returns a dict with ``pixel_auroc``, ``pixel_ap``, ``pixel_f1_max`` and ``aupro`` (float or
    :class:`Undefined`).
    """
    return pixel_metrics_and_pro_curve(summaries, limit, max_points=0)[0]

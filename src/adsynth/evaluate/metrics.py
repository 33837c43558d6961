"""Exact anomaly-detection metrics: pure functions plus accumulators.

Image level: AUROC and F1-max of per-image scores. Pixel level: AUROC, average precision, F1-max and
AUPRO (the area under the per-region-overlap curve up to a false-positive-rate limit, divided by the
limit), following the official MVTec AD evaluation script exactly (see ``docs/EVALUATION.md``).

Every metric is computed from *sorted* score arrays and cumulative counts, never from a threshold grid,
so results are exact (ties between scores are merged, as scikit-learn and the official script do).
Pixel scores are handled as float32, image scores as float64. Nothing is clamped or normalised.

A pixel set is summarised once (:class:`PixelSummary`: sorted defect-free scores, sorted defect scores
with per-region weights); several summaries can be combined at query time without re-sorting the big
arrays, which is how the per-defect-type report shares the work between its rows.

Example:
    >>> import numpy as np
    >>> amap = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    >>> mask = np.array([[1, 0], [0, 1]], dtype=np.uint8)
    >>> round(pixel_auroc([amap], [mask]), 6)
    1.0
    >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from adsynth.errors import ConfigError, DataError

__all__ = [
    "Undefined",
    "auroc",
    "average_precision",
    "f1_max",
    "roc_curve",
    "aupro",
    "pro_curve",
    "pixel_auroc",
    "pixel_average_precision",
    "pixel_f1_max",
    "pixel_metrics",
    "image_metrics",
    "resize_to_mask",
    "PixelSummary",
    "PixelAccumulator",
    "ImageAccumulator",
    "combine_pixel_metrics",
    "combine_image_metrics",
    "pixel_metrics_and_pro_curve",
    "pro_curve_from_summaries",
    "DEFAULT_PRO_LIMIT",
]

DEFAULT_PRO_LIMIT = 0.3

# 8-connectivity for ground-truth regions, as in the official script.
_STRUCTURE = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Undefined:
    """A metric that cannot be computed on the given data, with the reason why.

    It is reported as such (never as a silent 0.5 or 0). ``float(Undefined(...))`` is NaN.
    """

    reason: str

    def __float__(self) -> float:
        return float("nan")

    def __str__(self) -> str:
        return f"undefined ({self.reason})"


def check_limit(limit: float) -> float:
    """Check the AUPRO integration limit lies in (0, 1]."""
    try:
        v = float(limit)
    except (TypeError, ValueError):
        raise ConfigError(f"expected `limit` to be a number in (0, 1], got {limit!r}") from None
    if not (0.0 < v <= 1.0):
        raise ConfigError(f"expected `limit` to be in (0, 1], got {limit!r}")
    return v


# --------------------------------------------------------------------------------------------------
# Sorted-array kernels. `negs` / `poss` are lists of ascending-sorted arrays of one common dtype.
# --------------------------------------------------------------------------------------------------


def _unique_sorted(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts of an ascending-sorted array (cheaper than np.unique)."""
    if a.size == 0:
        return a, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], a[1:] != a[:-1])))
    counts = np.diff(np.append(starts, a.size))
    return a[starts], counts


def _count_ge(arrays: Sequence[np.ndarray], values: np.ndarray, strict: bool = False) -> np.ndarray:
    """Number of elements ``>= values`` (or ``> values`` if strict) over several sorted arrays."""
    side = "right" if strict else "left"
    total = np.zeros(values.shape, dtype=np.int64)
    for a in arrays:
        if a.size:
            total += a.size - np.searchsorted(a, values, side=side)
    return total


def _merge_sorted(arrays: Sequence[np.ndarray]) -> np.ndarray:
    nonempty = [a for a in arrays if a.size]
    if len(nonempty) == 1:
        return nonempty[0]
    if not nonempty:
        return arrays[0][:0] if arrays else np.zeros(0)
    merged = np.concatenate(nonempty)
    merged.sort()
    return merged


def _auroc_sorted(negs: Sequence[np.ndarray], poss: Sequence[np.ndarray]) -> float | Undefined:
    """Mann-Whitney AUROC: P(pos > neg) + 1/2 P(pos == neg); equals the trapezoid ROC area."""
    n_neg = sum(a.size for a in negs)
    n_pos = sum(a.size for a in poss)
    if n_pos == 0:
        return Undefined("no positive samples")
    if n_neg == 0:
        return Undefined("no negative samples")
    twice_wins = 0
    for p in poss:
        values, counts = _unique_sorted(p)
        for a in negs:
            if a.size:
                below = np.searchsorted(a, values, side="left")
                below_or_tied = np.searchsorted(a, values, side="right")
                twice_wins += int(np.dot(counts, below + below_or_tied))
    return twice_wins / (2.0 * n_pos * n_neg)


def _pr_points(
    negs: Sequence[np.ndarray], poss: Sequence[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """TP, FP and added positives at each distinct positive score, in descending score order.

    Precision/recall only change where a positive sits, so these points carry AP and F1-max exactly.
    """
    pos = _merge_sorted(poss)
    values, counts = _unique_sorted(pos)
    values, counts = values[::-1], counts[::-1]
    tp = np.cumsum(counts)
    fp = _count_ge(negs, values)
    return tp, fp, counts, int(pos.size)


def _average_precision_sorted(negs, poss) -> float | Undefined:
    tp, fp, added, n_pos = _pr_points(negs, poss)
    if n_pos == 0:
        return Undefined("no positive samples")
    precision = tp / (tp + fp)
    return float(np.dot(added, precision) / n_pos)


def _f1_max_sorted(negs, poss) -> float | Undefined:
    tp, fp, _, n_pos = _pr_points(negs, poss)
    if n_pos == 0:
        return Undefined("no positive samples")
    return float(np.max(2.0 * tp / (tp + fp + n_pos)))


def _as_scores_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise DataError(f"expected as many labels as scores, got {y.size} labels for {s.size} scores")
    if not np.all(np.isfinite(s)):
        raise DataError("expected finite scores, found NaN or inf")
    return np.sort(s[y == 0]), np.sort(s[y != 0])


def auroc(scores, labels) -> float | Undefined:
    """Area under the ROC curve (ties count one half), as ``sklearn.metrics.roc_auc_score``.

    Args:
        scores: higher means more anomalous.
        labels: 0 for normal, anything else for anomalous.

    Example:
        >>> auroc([0.2, 0.7, 0.7], [0, 1, 0])
        0.75
    """
    neg, pos = _as_scores_labels(scores, labels)
    return _auroc_sorted([neg], [pos])


def average_precision(scores, labels) -> float | Undefined:
    """Average precision, as ``sklearn.metrics.average_precision_score`` (step sum, no interpolation).

    Example:
        >>> average_precision([0.1, 0.9, 0.8], [0, 1, 0])
        1.0
    """
    neg, pos = _as_scores_labels(scores, labels)
    return _average_precision_sorted([neg], [pos])


def f1_max(scores, labels) -> float | Undefined:
    """Best F1 score over all thresholds (``score >= t`` is predicted anomalous).

    Example:
        >>> round(f1_max([0.1, 0.9, 0.8], [0, 1, 0]), 6)
        1.0
    """
    neg, pos = _as_scores_labels(scores, labels)
    return _f1_max_sorted([neg], [pos])


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve with ties merged: ``(fpr, tpr, thresholds)``, from (0, 0) to (1, 1).

    Example:
        >>> fpr, tpr, thr = roc_curve([0.1, 0.9, 0.8], [0, 1, 0])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 1.0], [0.0, 1.0, 1.0, 1.0])
    """
    neg, pos = _as_scores_labels(scores, labels)
    values = np.unique(np.concatenate([neg, pos]))[::-1]
    tp = _count_ge([pos], values)
    fp = _count_ge([neg], values)
    n_pos, n_neg = max(pos.size, 1), max(neg.size, 1)
    fpr = np.concatenate(([0.0], fp / n_neg))
    tpr = np.concatenate(([0.0], tp / n_pos))
    thresholds = np.concatenate(([np.inf], values))
    return fpr, tpr, thresholds


# --------------------------------------------------------------------------------------------------
# Pixel sets
# --------------------------------------------------------------------------------------------------


def resize_to_mask(amap: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Return ``amap`` as float32 at ``shape`` (bilinear, OpenCV); the mask is never resized."""
    amap = np.asarray(amap, dtype=np.float32)
    if amap.ndim == 3 and amap.shape[0] == 1:
        amap = amap[0]
    if amap.ndim != 2:
        raise DataError(f"expected an anomaly map of shape H×W, got {amap.shape}")
    if amap.shape != tuple(shape):
        amap = cv2.resize(amap, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)
    return amap


@dataclass
class PixelSummary:
    """Sorted summary of a set of pixels, enough for every pixel metric.

    Attributes:
        ok: ascending scores of the defect-free pixels (float32).
        defect: ascending scores of the ground-truth pixels (float32).
        defect_weight: weight ``1/|region|`` of each pixel of ``defect`` (same order, float64).
        defect_weight_tail: ``defect_weight_tail[i]`` = sum of ``defect_weight[i:]`` (one longer).
        n_regions: number of 8-connected ground-truth regions.
    """

    ok: np.ndarray
    defect: np.ndarray
    defect_weight: np.ndarray
    defect_weight_tail: np.ndarray
    n_regions: int
    #: number of defect-free pixels when ``ok`` holds only the highest of them (AUPRO-only summary)
    ok_total: int | None = None

    @property
    def n_ok(self) -> int:
        return int(self.ok.size if self.ok_total is None else self.ok_total)

    @property
    def n_defect(self) -> int:
        return int(self.defect.size)


class PixelAccumulator:
    """Collects anomaly maps and masks batch by batch; :meth:`compute` gives the pixel metrics.

    Only the scores are kept (4 bytes per pixel plus 8 per defect pixel), not the maps or masks.

    Args:
        limit: AUPRO integration limit (false-positive rate), in (0, 1].

    Example:
        >>> import numpy as np
        >>> acc = PixelAccumulator()
        >>> acc.update([np.array([[0.9, 0.1], [0.2, 0.8]])], [np.array([[1, 0], [0, 0]])])
        >>> acc.compute()["pixel_auroc"]
        1.0
    """

    def __init__(self, limit: float = DEFAULT_PRO_LIMIT) -> None:
        self.limit = check_limit(limit)
        self._ok: list[np.ndarray] = []
        # One preallocated float32 buffer for the defect-free scores of the first batch (its size is
        # known), so that they are never held twice; later batches are kept as chunks.
        self._buf: np.ndarray | None = None
        self._used = 0
        self._defect: list[np.ndarray] = []
        self._weights: list[np.ndarray] = []
        self._n_regions = 0
        self._summary: PixelSummary | None = None

    def update(self, maps, masks, names: Sequence[str] | None = None) -> None:
        """Add a batch: ``maps`` (N×h×w or a sequence of H×W arrays) and masks (0/1, any H×W each).

        Each map is resized to its mask's shape. ``names`` (optional) only serve error messages.
        """
        if len(maps) != len(masks):
            raise DataError(f"expected as many masks as maps, got {len(masks)} masks for {len(maps)} maps")
        if self._buf is None and not self._ok and not self._defect:
            self._buf = np.empty(sum(int(np.size(m)) for m in masks), np.float32)
            self._used = 0
        for i, (amap, mask) in enumerate(zip(maps, masks, strict=True)):
            label = f"sample {names[i]!r}" if names is not None else f"map {i} of the batch"
            self.add(amap, mask, label)

    def add(self, amap: np.ndarray, mask: np.ndarray, label: str = "map") -> None:
        """Add one map and its mask (see :meth:`update`)."""
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise DataError(f"{label}: expected a mask of shape H×W, got {mask.shape}")
        amap = resize_to_mask(amap, mask.shape)
        if not np.isfinite(amap).all():
            raise DataError(f"{label}: anomaly map contains NaN or inf")
        if mask.dtype != bool:
            if mask.size and (mask.min() < 0 or mask.max() > 1):
                raise DataError(f"{label}: expected a binary (0/1) mask, found values outside {{0, 1}}")
        defect = mask.astype(bool, copy=False)
        self._summary = None
        if not defect.any():
            self._keep_ok(amap.ravel())
            return
        regions, n = ndimage.label(defect, structure=_STRUCTURE)
        sizes = np.bincount(regions.ravel())
        in_region = regions[defect]
        self._keep_ok(amap[~defect])
        self._defect.append(amap[defect])
        self._weights.append(1.0 / sizes[in_region])
        self._n_regions += int(n)

    def _keep_ok(self, values: np.ndarray) -> None:
        buf, n = self._buf, values.size
        if buf is not None and self._used + n <= buf.size:
            buf[self._used : self._used + n] = values
            self._used += n
        else:
            self._ok.append(np.array(values, dtype=np.float32, copy=True))

    def _joined_ok(self) -> np.ndarray:
        if self._buf is not None:
            self._ok.insert(0, self._buf[: self._used])
            self._buf, self._used = None, 0
        # Chunks are private copies, so the joined array can be reordered in place. Moving them one
        # by one into a preallocated array (freeing each) keeps the peak near 4 bytes/pixel.
        if len(self._ok) == 1:
            ok = self._ok.pop()
        else:
            ok = np.empty(sum(c.size for c in self._ok), np.float32)
            pos = 0
            self._ok.reverse()
            while self._ok:
                chunk = self._ok.pop()
                ok[pos : pos + chunk.size] = chunk
                pos += chunk.size
                del chunk
        self._ok = [ok]
        return ok

    def pro_summary(self, limit: float) -> PixelSummary:
        """A summary for AUPRO up to ``limit`` only.

        Of the defect-free pixels, only those scoring at least the k-th largest defect-free score
        (k = ⌊limit · n⌋ + 1; ties included) can place a curve segment left of ``limit``, so only they
        are kept and sorted; a linear-time partition finds that score. Valid alone only (not combined
        with other summaries: their pooled cut can be lower). Not cached; when the full
        summary is already cached it is returned.
        """
        if self._summary is not None:
            return self._summary
        ok = self._joined_ok()
        n = ok.size
        if n:
            k = min(n, int(np.floor(check_limit(limit) * n)) + 1)
            ok.partition(n - k)  # in place: the set of scores is unchanged
            top = ok[ok >= ok[n - k]]
            top.sort()
        else:
            top = ok[:0].copy()
        defect, weight, tail = self._sorted_defects()
        return PixelSummary(top, defect, weight, tail, self._n_regions, ok_total=n)

    def _sorted_defects(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._defect:
            scores = np.concatenate(self._defect)
            weights = np.concatenate(self._weights)
            order = np.argsort(scores, kind="stable")
            scores, weights = scores[order], weights[order]
        else:
            scores, weights = np.zeros(0, np.float32), np.zeros(0)
        self._defect, self._weights = [scores], [weights]
        tail = np.zeros(scores.size + 1)
        tail[:-1] = np.cumsum(weights[::-1])[::-1]
        return scores, weights, tail

    def summary(self) -> PixelSummary:
        """Sort what was collected (once; cached until the next update)."""
        if self._summary is None:
            ok = self._joined_ok()
            ok.sort()
            self._summary = PixelSummary(ok, *self._sorted_defects(), self._n_regions)
        return self._summary

    def compute(self) -> dict[str, float | Undefined]:
        """``pixel_auroc``, ``pixel_ap``, ``pixel_f1_max`` and ``aupro`` of everything added."""
        return combine_pixel_metrics([self.summary()], self.limit)


class ImageAccumulator:
    """Collects image scores and labels; :meth:`compute` gives ``image_auroc`` and ``image_f1_max``.

    Example:
        >>> acc = ImageAccumulator()
        >>> acc.update([0.1, 0.9], [0, 1])
        >>> acc.compute()["image_auroc"]
        1.0
    """

    def __init__(self) -> None:
        self._scores: list[np.ndarray] = []
        self._labels: list[np.ndarray] = []

    def update(self, scores, labels) -> None:
        s = np.asarray(scores, dtype=np.float64).ravel()
        y = np.asarray(labels).ravel()
        if s.shape != y.shape:
            raise DataError(f"expected as many labels as scores, got {y.size} labels for {s.size} scores")
        if not np.isfinite(s).all():
            raise DataError("expected finite image scores, found NaN or inf")
        self._scores.append(s)
        self._labels.append(y != 0)

    def sorted_scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Ascending scores of the normal and of the anomalous images."""
        s = np.concatenate(self._scores) if self._scores else np.zeros(0)
        y = np.concatenate(self._labels) if self._labels else np.zeros(0, bool)
        return np.sort(s[~y]), np.sort(s[y])

    def compute(self) -> dict[str, float | Undefined]:
        neg, pos = self.sorted_scores()
        return combine_image_metrics([neg], [pos])


def combine_image_metrics(negs: Sequence[np.ndarray], poss: Sequence[np.ndarray]) -> dict:
    """Image AUROC and F1-max from sorted normal (``negs``) and anomalous (``poss``) score arrays."""
    n_neg = sum(a.size for a in negs)
    n_pos = sum(a.size for a in poss)
    if n_pos == 0:
        no_pos = Undefined("no anomalous images")
        return {"image_auroc": no_pos, "image_f1_max": no_pos}
    out: dict[str, float | Undefined] = {}
    out["image_auroc"] = Undefined("no normal images") if n_neg == 0 else _auroc_sorted(negs, poss)
    out["image_f1_max"] = _f1_max_sorted(negs, poss)
    return out


# --------------------------------------------------------------------------------------------------
# AUPRO
# --------------------------------------------------------------------------------------------------


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


def _pro_segments(summaries: Sequence[PixelSummary], limit: float):
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
    relevant = _merge_sorted([s.ok[np.searchsorted(s.ok, cut, side="left") :] for s in summaries])
    defects = [s for s in summaries if s.n_defect]
    hi = relevant.size
    while hi > 0:
        # A block holds whole runs of equal scores: move its lower end to the start of its run.
        lo = int(np.searchsorted(relevant, relevant[max(0, hi - _BLOCK)], side="left"))
        values, counts = _unique_sorted(relevant[lo:hi])  # ascending within the block
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


def _area_and_curve(blocks, limit: float, max_points: int | None = None):
    """AUPRO area and the curve vertices up to ``limit`` from the blocks of :func:`_pro_segments`.

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


def _pro_undefined(summaries: Sequence[PixelSummary]) -> Undefined | None:
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
    undefined = _pro_undefined(summaries)
    if undefined is not None:
        return undefined
    return _area_and_curve(_pro_segments(summaries, limit), limit)[1]


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
        "pixel_auroc": Undefined("no defect-free pixels") if n_ok == 0 else _auroc_sorted(negs, poss),
        "pixel_ap": _average_precision_sorted(negs, poss),
        "pixel_f1_max": _f1_max_sorted(negs, poss),
    }
    undefined = _pro_undefined(summaries)
    if undefined is not None:
        out["aupro"] = undefined
        return out, undefined
    area, curve = _area_and_curve(_pro_segments(summaries, limit), limit, max_points)
    out["aupro"] = float(area / limit)
    return out, curve


def combine_pixel_metrics(summaries: Sequence[PixelSummary], limit: float = DEFAULT_PRO_LIMIT) -> dict:
    """Every pixel metric over the union of several pixel sets, sharing their sorted arrays.

    Returns a dict with ``pixel_auroc``, ``pixel_ap``, ``pixel_f1_max`` and ``aupro`` (float or
    :class:`Undefined`).
    """
    return pixel_metrics_and_pro_curve(summaries, limit, max_points=0)[0]


def _summary(maps, masks) -> PixelSummary:
    acc = PixelAccumulator(limit=1.0)
    acc.update(maps, masks)
    return acc.summary()


def pixel_metrics(maps, masks, limit: float = DEFAULT_PRO_LIMIT) -> dict[str, float | Undefined]:
    """Pixel AUROC, AP, F1-max and AUPRO in one sorted pass. Maps are resized to their masks.

    Example:
        >>> import numpy as np
        >>> m = pixel_metrics([np.array([[0.9, 0.1], [0.2, 0.8]])], [np.array([[1, 0], [0, 1]])])
        >>> m["pixel_auroc"], m["aupro"]
        (1.0, 1.0)
    """
    return combine_pixel_metrics([_summary(maps, masks)], limit)


def aupro(maps, masks, limit: float = DEFAULT_PRO_LIMIT) -> float | Undefined:
    """Normalised area under the PRO curve up to ``limit``, exactly as the official MVTec AD script.

    8-connected regions, false-positive rate pooled over every defect-free pixel of all maps, each
    region weighted equally, ties merged, trapezoid with linear interpolation at ``limit``, divided by
    ``limit``.

    Args:
        maps: anomaly maps (sequence of H×W arrays or an N×H×W array); resized to their masks.
        masks: ground-truth masks, 0/1, one per map (all zeros for a normal image).
        limit: false-positive-rate integration limit in (0, 1].

    Example:
        >>> import numpy as np
        >>> amap = np.array([[0.9, 0.8], [0.1, 0.7]])
        >>> round(aupro([amap], [np.array([[1, 1], [0, 0]])]), 6)
        1.0
    """
    limit = check_limit(limit)
    acc = PixelAccumulator(limit=limit)
    acc.update(maps, masks)
    summaries = [acc.pro_summary(limit)]
    undefined = _pro_undefined(summaries)
    if undefined is not None:
        return undefined
    return float(_area_and_curve(_pro_segments(summaries, limit), limit, max_points=0)[0] / limit)


def pro_curve(maps, masks) -> tuple[np.ndarray, np.ndarray] | Undefined:
    """The whole official PRO curve ``(fpr, pro)`` from (0, 0) to (1, 1) (vertical runs compressed)."""
    return pro_curve_from_summaries([_summary(maps, masks)], 1.0)


def pixel_auroc(maps, masks) -> float | Undefined:
    """Pixel-level AUROC over all pixels of all maps (maps resized to their masks)."""
    return pixel_metrics(maps, masks)["pixel_auroc"]


def pixel_average_precision(maps, masks) -> float | Undefined:
    """Pixel-level average precision over all pixels of all maps."""
    return pixel_metrics(maps, masks)["pixel_ap"]


def pixel_f1_max(maps, masks) -> float | Undefined:
    """Pixel-level F1-max over all pixels of all maps."""
    return pixel_metrics(maps, masks)["pixel_f1_max"]


def image_metrics(scores: Iterable[float], labels: Iterable[int]) -> dict[str, float | Undefined]:
    """Image AUROC and F1-max of per-image scores (0 = normal label)."""
    acc = ImageAccumulator()
    acc.update(list(scores), list(labels))
    return acc.compute()

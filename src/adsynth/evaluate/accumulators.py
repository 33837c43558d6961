"""Accumulators: pixel and image scores collected batch by batch, summarised once as sorted arrays.

Example:
    >>> import numpy as np
    >>> from adsynth.evaluate.accumulators import PixelAccumulator
    >>> acc = PixelAccumulator()
    >>> acc.update([np.array([[0.9, 0.1], [0.2, 0.8]])], [np.array([[1, 0], [0, 1]])])
    >>> acc.compute()["pixel_auroc"]
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from adsynth.errors import DataError
from adsynth.evaluate.pro import DEFAULT_PRO_LIMIT, combine_pixel_metrics
from adsynth.evaluate.ranking import Undefined, auroc_sorted, check_limit, f1_max_sorted

# 8-connectivity for ground-truth regions, as in the official script.
_STRUCTURE = np.ones((3, 3), dtype=bool)


def same_aspect(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """True when ``a`` scaled to ``b`` keeps its aspect ratio to within one pixel of rounding."""
    (ah, aw), (bh, bw) = a, b
    return abs(ah * bw - aw * bh) <= max(ah, aw, bh, bw)


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
    out["image_auroc"] = Undefined("no normal images") if n_neg == 0 else auroc_sorted(negs, poss)
    out["image_f1_max"] = f1_max_sorted(negs, poss)
    return out

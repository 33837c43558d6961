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

from collections.abc import Iterable

import numpy as np

from adsynth.evaluate.accumulators import (
    ImageAccumulator,
    PixelAccumulator,
    PixelSummary,
    combine_image_metrics,
    resize_to_mask,
)
from adsynth.evaluate.pro import (
    DEFAULT_PRO_LIMIT,
    area_and_curve,
    combine_pixel_metrics,
    pixel_metrics_and_pro_curve,
    pro_curve_from_summaries,
    pro_segments,
    pro_undefined,
)
from adsynth.evaluate.ranking import (
    Undefined,
    as_scores_labels,
    auroc_sorted,
    average_precision_sorted,
    check_limit,
    count_ge,
    f1_max_sorted,
)

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


def auroc(scores, labels) -> float | Undefined:
    """Area under the ROC curve (ties count one half), as ``sklearn.metrics.roc_auc_score``.

    Args:
        scores: higher means more anomalous.
        labels: 0 for normal, anything else for anomalous.

    Example:
        >>> auroc([0.2, 0.7, 0.7], [0, 1, 0])
        0.75
    """
    neg, pos = as_scores_labels(scores, labels)
    return auroc_sorted([neg], [pos])


def average_precision(scores, labels) -> float | Undefined:
    """Average precision, as ``sklearn.metrics.average_precision_score`` (step sum, no interpolation).

    Example:
        >>> average_precision([0.1, 0.9, 0.8], [0, 1, 0])
        1.0
    """
    neg, pos = as_scores_labels(scores, labels)
    return average_precision_sorted([neg], [pos])


def f1_max(scores, labels) -> float | Undefined:
    """Best F1 score over all thresholds (``score >= t`` is predicted anomalous).

    Example:
        >>> round(f1_max([0.1, 0.9, 0.8], [0, 1, 0]), 6)
        1.0
    """
    neg, pos = as_scores_labels(scores, labels)
    return f1_max_sorted([neg], [pos])


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve with ties merged: ``(fpr, tpr, thresholds)``, from (0, 0) to (1, 1).

    Example:
        >>> fpr, tpr, thr = roc_curve([0.1, 0.9, 0.8], [0, 1, 0])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 1.0], [0.0, 1.0, 1.0, 1.0])
    """
    neg, pos = as_scores_labels(scores, labels)
    values = np.unique(np.concatenate([neg, pos]))[::-1]
    tp = count_ge([pos], values)
    fp = count_ge([neg], values)
    n_pos, n_neg = max(pos.size, 1), max(neg.size, 1)
    fpr = np.concatenate(([0.0], fp / n_neg))
    tpr = np.concatenate(([0.0], tp / n_pos))
    thresholds = np.concatenate(([np.inf], values))
    return fpr, tpr, thresholds


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
    undefined = pro_undefined(summaries)
    if undefined is not None:
        return undefined
    return float(area_and_curve(pro_segments(summaries, limit), limit, max_points=0)[0] / limit)


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

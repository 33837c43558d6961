"""Decision thresholds for the line: a false-positive-rate target on normal images, or F1-max.

A sample (or pixel) is flagged when its value is ``>= threshold``. Both rules work on exact sorted
values (no binning), so the stated rate holds on the calibration data:

- :func:`fpr_threshold`: the lowest threshold that flags at most ``fpr`` of the normal values;
- :func:`f1_threshold`: the threshold of the best F1 on values with labels (real or synthetic defects).

Example:
    >>> import numpy as np
    >>> fpr_threshold(np.arange(100.0), 0.05) > 94.0
    True
    >>> f1_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    (1.0, 0.8)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adsynth.errors import ConfigError, DataError


def fpr_threshold(normal_values: np.ndarray, fpr: float) -> float:
    """The lowest ``t`` such that at most ``floor(fpr × n)`` of the ``n`` normal values are ``>= t``."""
    if not 0.0 <= float(fpr) < 1.0:
        raise ConfigError(f"expected `fpr` in [0, 1), got {fpr}")
    v = np.sort(np.asarray(normal_values, dtype=np.float64).ravel())[::-1]
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise DataError("no finite values of normal samples to set a threshold on")
    k = int(math.floor(float(fpr) * v.size))  # how many normal values may be flagged
    # Just above the (k+1)-th largest value: ties at that value are not flagged either.
    return float(np.nextafter(v[k], np.inf))


def f1_threshold(values: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(best F1, its threshold)`` over every distinct value of a positive sample."""
    v = np.asarray(values, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if v.shape != y.shape:
        raise DataError(f"{v.size} values but {y.size} labels")
    if not y.any() or y.all():
        raise DataError("F1 needs both normal and defective samples")
    order = np.argsort(-v, kind="stable")
    v, y = v[order], y[order]
    tp, fp = np.cumsum(y), np.cumsum(~y)
    last = np.r_[v[1:] != v[:-1], True]  # a threshold sits at the last of equal values
    f1 = 2.0 * tp / (tp + fp + y.sum())
    f1 = np.where(last & y, f1, -1.0)
    i = int(np.argmax(f1))
    return float(f1[i]), float(v[i])


def calibrate(
    scores: np.ndarray,
    labels: np.ndarray,
    maps: list[np.ndarray] | None = None,
    masks: list[np.ndarray] | None = None,
    fpr: float | None = None,
) -> dict[str, Any]:
    """Image and pixel thresholds of a calibration set.

    With ``fpr``: on the normal samples only (``labels == 0``; image scores, and every pixel of their
    maps). Without: F1-max on all samples (image labels; pixel masks), which needs defects.

    Returns:
        ``{"rule", "image", "pixel", "n_normal", "n_anomalous"}`` (``pixel`` None without maps).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    out: dict[str, Any] = {
        "n_normal": int((labels == 0).sum()),
        "n_anomalous": int((labels == 1).sum()),
    }
    if fpr is not None:
        out["rule"] = f"fpr<={float(fpr):g} on normal samples"
        out["image"] = fpr_threshold(scores[labels == 0], fpr)
        if maps is not None:
            normal = [m for m, lab in zip(maps, labels, strict=True) if lab == 0]
            out["pixel"] = fpr_threshold(np.concatenate([m.ravel() for m in normal]), fpr) if normal else None
        else:
            out["pixel"] = None
        return out
    out["rule"] = "f1-max"
    out["image_f1"], out["image"] = f1_threshold(scores, labels)
    if maps is not None and masks is not None:
        v = np.concatenate([m.ravel() for m in maps])
        y = np.concatenate([k.ravel() > 0 for k in masks])
        out["pixel_f1"], out["pixel"] = f1_threshold(v, y)
    else:
        out["pixel"] = None
    return out

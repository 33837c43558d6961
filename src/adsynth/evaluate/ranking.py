"""Sorted-array kernels shared by every metric: exact AUROC, AP and F1-max from ascending score arrays.

``negs`` / ``poss`` are lists of ascending-sorted arrays of one common dtype (several pixel sets can be
combined without merging them). :class:`Undefined` is what a metric returns when the data cannot define
it. The public functions are in :mod:`adsynth.evaluate.metrics`.

Example:
    >>> import numpy as np
    >>> from adsynth.evaluate.ranking import auroc_sorted
    >>> auroc_sorted([np.array([0.1, 0.4])], [np.array([0.35, 0.8])])
    0.75
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adsynth.errors import ConfigError, DataError


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


def unique_sorted(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts of an ascending-sorted array (cheaper than np.unique)."""
    if a.size == 0:
        return a, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], a[1:] != a[:-1])))
    counts = np.diff(np.append(starts, a.size))
    return a[starts], counts


def count_ge(arrays: Sequence[np.ndarray], values: np.ndarray, strict: bool = False) -> np.ndarray:
    """Number of elements ``>= values`` (or ``> values`` if strict) over several sorted arrays."""
    side = "right" if strict else "left"
    total = np.zeros(values.shape, dtype=np.int64)
    for a in arrays:
        if a.size:
            total += a.size - np.searchsorted(a, values, side=side)
    return total


def merge_sorted(arrays: Sequence[np.ndarray]) -> np.ndarray:
    nonempty = [a for a in arrays if a.size]
    if len(nonempty) == 1:
        return nonempty[0]
    if not nonempty:
        return arrays[0][:0] if arrays else np.zeros(0)
    merged = np.concatenate(nonempty)
    merged.sort()
    return merged


def auroc_sorted(negs: Sequence[np.ndarray], poss: Sequence[np.ndarray]) -> float | Undefined:
    """Mann-Whitney AUROC: P(pos > neg) + 1/2 P(pos == neg); equals the trapezoid ROC area."""
    n_neg = sum(a.size for a in negs)
    n_pos = sum(a.size for a in poss)
    if n_pos == 0:
        return Undefined("no positive samples")
    if n_neg == 0:
        return Undefined("no negative samples")
    twice_wins = 0
    for p in poss:
        values, counts = unique_sorted(p)
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
    pos = merge_sorted(poss)
    values, counts = unique_sorted(pos)
    values, counts = values[::-1], counts[::-1]
    tp = np.cumsum(counts)
    fp = count_ge(negs, values)
    return tp, fp, counts, int(pos.size)


def average_precision_sorted(negs, poss) -> float | Undefined:
    tp, fp, added, n_pos = _pr_points(negs, poss)
    if n_pos == 0:
        return Undefined("no positive samples")
    precision = tp / (tp + fp)
    return float(np.dot(added, precision) / n_pos)


def f1_max_sorted(negs, poss) -> float | Undefined:
    tp, fp, _, n_pos = _pr_points(negs, poss)
    if n_pos == 0:
        return Undefined("no positive samples")
    return float(np.max(2.0 * tp / (tp + fp + n_pos)))


def as_scores_labels(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise DataError(f"expected as many labels as scores, got {y.size} labels for {s.size} scores")
    if not np.all(np.isfinite(s)):
        raise DataError("expected finite scores, found NaN or inf")
    return np.sort(s[y == 0]), np.sort(s[y != 0])

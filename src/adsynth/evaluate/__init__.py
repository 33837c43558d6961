"""Evaluation: exact metrics (pure functions + accumulators), the per-defect-type report, map folders.

Maps files are read with :mod:`adsynth.data.maps` (the format's owner).

This package stays light: no torch import. Plotting imports matplotlib lazily.
"""

from adsynth.evaluate.metrics import (
    DEFAULT_PRO_LIMIT,
    ImageAccumulator,
    PixelAccumulator,
    Undefined,
    aupro,
    auroc,
    average_precision,
    f1_max,
    image_metrics,
    pixel_metrics,
    pro_curve,
    roc_curve,
)

__all__ = [
    "DEFAULT_PRO_LIMIT",
    "ImageAccumulator",
    "PixelAccumulator",
    "Undefined",
    "aupro",
    "auroc",
    "average_precision",
    "f1_max",
    "image_metrics",
    "pixel_metrics",
    "pro_curve",
    "roc_curve",
]

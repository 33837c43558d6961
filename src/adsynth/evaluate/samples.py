"""One test image as the evaluation sees it (:class:`MapSample`), and its checks at the report's edge.

:func:`check_sample` validates a record once (map, mask, label, score, photo box) and brings the map to
its mask's size; :func:`scored_pixels` is the part of the map and mask that the pixel metrics see: the
whole image, or only its photo when the image is a letterbox (the padding of ``adsynth dataset import
--resize pad`` holds no photo, so it is neither a normal nor a defective pixel).

Example:
    >>> import numpy as np
    >>> s = check_sample(MapSample("a", np.ones((4, 4)), None, 0, "good", photo_box=(1, 0, 2, 4)), 0)
    >>> scored_pixels(s)[0].shape, s.n_padding
    ((2, 4), 8)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from adsynth.errors import DataError
from adsynth.evaluate.accumulators import resize_to_mask, same_aspect

__all__ = ["MapSample", "CheckedSample", "check_sample", "scored_pixels"]


@dataclass
class MapSample:
    """One test image as the evaluation sees it.

    Attributes:
        name: unique sample name (from the data file).
        anomaly_map: float H×W map (any resolution; resized to the mask).
        mask: uint8 0/1 ground truth, or None for "no defect pixels" (then the map's shape is used).
        label: 0 normal, > 0 anomalous.
        defect_type: e.g. ``"good"``, ``"scratch"``, ``"cutpaste-scar"``.
        score: model image score; None or NaN means "use the maximum of the map".
        photo_box: ``(top, left, height, width)`` of the mask's pixels that hold the photo, for a
            letterboxed image (:func:`adsynth.data.images.photo_box`); the pixels outside are left out
            of the pixel metrics. None: the whole image.
    """

    name: str
    anomaly_map: np.ndarray
    mask: np.ndarray | None
    label: int
    defect_type: str
    score: float | None = None
    photo_box: tuple[int, int, int, int] | None = None


class CheckedSample(NamedTuple):
    """A validated :class:`MapSample`: the map at the mask's size, ``resized_from`` its own size when it
    was resized, ``photo_box`` None when the photo fills the image."""

    name: str
    anomaly_map: np.ndarray
    mask: np.ndarray
    label: int
    defect_type: str
    score: float | None
    resized_from: tuple[int, int] | None
    photo_box: tuple[int, int, int, int] | None

    @property
    def n_padding(self) -> int:
        """Pixels outside the photo (0 without a box)."""
        if self.photo_box is None:
            return 0
        return int(self.mask.size - self.photo_box[2] * self.photo_box[3])


def _get(sample: Any, key: str, default: Any = ...) -> Any:
    if isinstance(sample, Mapping):
        if key in sample:
            return sample[key]
    elif hasattr(sample, key):
        return getattr(sample, key)
    if default is ...:
        raise DataError(f"sample record {sample!r:.80} has no `{key}`")
    return default


def _check_box(box: Any, mask: np.ndarray, where: str) -> tuple[int, int, int, int] | None:
    if box is None:
        return None
    h, w = mask.shape
    try:
        top, left, bh, bw = (int(v) for v in box)
    except (TypeError, ValueError):
        raise DataError(
            f"{where}: expected `photo_box` to be (top, left, height, width), got {box!r}"
        ) from None
    if top < 0 or left < 0 or bh < 1 or bw < 1 or top + bh > h or left + bw > w:
        raise DataError(f"{where}: photo box {(top, left, bh, bw)} does not fit in its {h}×{w} mask")
    if (bh, bw) == (h, w):
        return None
    if int(mask[top : top + bh, left : left + bw].sum()) != int(mask.sum()):
        raise DataError(f"{where}: the mask has defect pixels outside the photo box {(top, left, bh, bw)}")
    return top, left, bh, bw


def check_sample(sample: Any, index: int) -> CheckedSample:
    """Validate one record (:class:`MapSample` or a mapping with its fields); ``index`` names it in errors.

    Raises:
        DataError: a map that is not 2-D numbers or has NaN/inf, a map of another aspect ratio than its
            mask, a mask that is not 0/1, a bad label, a normal image with defect pixels, an infinite
            score, or a photo box outside the mask (or with defects outside it).
    """
    name = str(_get(sample, "name"))
    where = f"sample {name!r} (#{index})"
    amap = _get(sample, "anomaly_map")
    if not isinstance(amap, np.ndarray) or not np.issubdtype(amap.dtype, np.number):
        raise DataError(f"{where}: expected the anomaly map to be a numeric numpy array")
    amap = np.squeeze(amap) if amap.ndim == 3 and 1 in (amap.shape[0], amap.shape[-1]) else amap
    if amap.ndim != 2 or min(amap.shape) < 1:
        raise DataError(f"{where}: expected an anomaly map of shape H×W, got {amap.shape}")
    mask = _get(sample, "mask", None)
    if mask is None:
        mask = np.zeros(amap.shape, np.uint8)
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise DataError(f"{where}: expected a ground-truth mask of shape H×W, got {mask.shape}")
    if mask.dtype != bool:
        values = np.unique(mask)
        if not np.isin(values, (0, 1)).all():
            shown = ", ".join(str(v) for v in values[:5])
            hint = " (a 0/255 mask? divide it by 255)" if 255 in values else ""
            raise DataError(f"{where}: expected a binary 0/1 mask, found values {{{shown}}}{hint}")
    mask = mask.astype(np.uint8, copy=False)
    resized = None
    if amap.shape != mask.shape:
        if not same_aspect(amap.shape, mask.shape):
            raise DataError(
                f"{where}: anomaly map of {amap.shape[0]}×{amap.shape[1]} does not match its "
                f"{mask.shape[0]}×{mask.shape[1]} mask (another aspect ratio; maps are resized only when "
                "the aspect ratio is the same)"
            )
        resized = (int(amap.shape[0]), int(amap.shape[1]))
    amap = resize_to_mask(amap, mask.shape)
    if not np.isfinite(amap).all():
        raise DataError(f"{where}: anomaly map contains NaN or inf")
    label = _get(sample, "label")
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
        raise DataError(f"{where}: expected `label` to be an int >= 0, got {label!r}")
    if label == 0 and mask.any():
        raise DataError(f"{where}: labelled normal (0) but its mask has defect pixels")
    defect_type = str(_get(sample, "defect_type"))
    score = _get(sample, "score", None)
    if score is not None:
        score = float(score)
        if math.isnan(score):
            score = None
        elif not math.isfinite(score):
            raise DataError(f"{where}: image score is {score}")
    box = _check_box(_get(sample, "photo_box", None), mask, where)
    return CheckedSample(name, amap, mask, int(label), defect_type, score, resized, box)


def scored_pixels(sample: CheckedSample) -> tuple[np.ndarray, np.ndarray]:
    """The map and mask pixels that the pixel metrics see: inside the photo box (or all of them)."""
    if sample.photo_box is None:
        return sample.anomaly_map, sample.mask
    top, left, bh, bw = sample.photo_box
    return (
        sample.anomaly_map[top : top + bh, left : left + bw],
        sample.mask[top : top + bh, left : left + bw],
    )

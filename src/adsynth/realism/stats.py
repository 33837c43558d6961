"""Simple statistics of one defect region: area, elongation, contrast and edge sharpness.

Each is a pure function of an H×W×C uint8 image and its H×W 0/1 mask (all the mask's pixels form the
region, whatever the number of connected components):

* ``area``: the mask's fraction of the image;
* ``elongation``: ``sqrt(λ1 / λ2)`` of the covariance of the mask's pixel coordinates (1 for a disc or a
  square, ~L/W for a long thin line); a pixel's own variance (1/12) is added to both eigenvalues, so a
  one-pixel line stays finite;
* ``contrast``: mean grey level inside the mask minus the mean in a ring around it (``ring`` px wide,
  dilated mask minus mask), signed: dark defects are negative;
* ``sharpness``: the mean Sobel gradient magnitude of the grey image (grey levels per pixel) on the
  mask's border (the pixels of the morphological gradient of the mask).

:func:`stat_vector` puts them into fixed units for the realism score's geometry kernel.

Example:
    >>> import numpy as np
    >>> img = np.full((32, 32, 1), 200, np.uint8)
    >>> mask = np.zeros((32, 32), np.uint8)
    >>> mask[8:12, 4:28] = 1
    >>> img[mask > 0] = 40
    >>> s = region_stats(img, mask)
    >>> round(s["area"], 4), s["elongation"] > 5, s["contrast"]
    (0.0938, True, -160.0)
"""

from __future__ import annotations

import cv2
import numpy as np

from adsynth._validation import check_image, check_mask
from adsynth.errors import DataError

#: the statistics of :func:`region_stats`, in this order
STATS = ("area", "elongation", "contrast", "sharpness")
#: the grey-level unit of the contrast and sharpness in :func:`stat_vector`
GREY_UNIT = 32.0


def grey(image: np.ndarray) -> np.ndarray:
    """H×W float32 grey levels (0-255) of an H×W×C uint8 image (C = 1 or 3)."""
    img = image if image.ndim == 3 else image[:, :, None]
    if img.shape[2] == 1:
        return img[:, :, 0].astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float32)


def ring_width(shape: tuple[int, int]) -> int:
    """The width of the contrast ring: 1/32 of the shorter side, at least 2 px."""
    return max(2, min(shape) // 32)


def region_stats(image: np.ndarray, mask: np.ndarray, ring: int | None = None) -> dict[str, float]:
    """Area, elongation, contrast and edge sharpness of the region ``mask`` of ``image``.

    Args:
        image: H×W, H×W×1 or H×W×3 uint8.
        mask: H×W 0/1, not empty.
        ring: width in pixels of the ring of the contrast (default :func:`ring_width`).

    Raises:
        DataError: an empty mask or one that does not match the image.
    """
    check_image(image)
    m = check_mask(mask, image.shape[:2]) > 0
    if not m.any():
        raise DataError("expected a non-empty `mask` for region statistics")
    h, w = m.shape
    g = grey(image)
    ys, xs = np.nonzero(m)
    area = float(m.mean())
    if ys.size > 1:
        cov = np.cov(np.stack([ys, xs]).astype(np.float64))
    else:
        cov = np.zeros((2, 2))
    ev = np.linalg.eigvalsh(cov + np.eye(2) / 12.0)
    elongation = float(np.sqrt(ev[-1] / ev[0]))
    r = ring_width((h, w)) if ring is None else int(ring)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    m8 = m.astype(np.uint8)
    around = (cv2.dilate(m8, kernel) > 0) & ~m
    inside = float(g[m].mean())
    # A mask that covers the whole image has no ring: no contrast to measure.
    contrast = inside - float(g[around].mean()) if around.any() else 0.0
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    border = cv2.morphologyEx(m8, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    sharpness = float(np.hypot(gx, gy)[border].mean()) if border.any() else 0.0
    return {"area": area, "elongation": elongation, "contrast": contrast, "sharpness": sharpness}


def stat_vector(stats: dict[str, float]) -> np.ndarray:
    """The statistics in the units of the realism score's geometry kernel: ``log2(area)`` (a doubling is
    one unit), ``log2(elongation)``, contrast and sharpness in units of :data:`GREY_UNIT` grey levels.

    Example:
        >>> stat_vector({"area": 0.25, "elongation": 2.0, "contrast": -64.0, "sharpness": 16.0}).tolist()
        [-2.0, 1.0, -2.0, 0.5]
    """
    return np.array(
        [
            np.log2(max(stats["area"], 1e-8)),
            np.log2(max(stats["elongation"], 1.0)),
            stats["contrast"] / GREY_UNIT,
            stats["sharpness"] / GREY_UNIT,
        ],
        np.float64,
    )

"""Pure pixel kernels shared by the generators: explicit ``rng``, no hidden state, vectorised.

Images are H×W×C uint8 (C = 1 or 3); masks are H×W uint8 0/1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np


def changed_mask(out: np.ndarray, image: np.ndarray) -> np.ndarray:
    """H×W uint8 mask of the pixels where ``out`` differs from ``image`` in any channel."""
    ne = out != image
    m = ne[:, :, 0]
    for c in range(1, ne.shape[2]):  # channel ORs: several times faster than any(axis=2)
        m = m | ne[:, :, c]
    return m.view(np.uint8) if m.flags.c_contiguous else m.astype(np.uint8)


def box_changed(out: np.ndarray, image: np.ndarray, y: int, x: int, h: int, w: int) -> np.ndarray:
    """Full-size changed-pixel mask computed only inside the box (the only place a paste can change)."""
    m = np.zeros(image.shape[:2], np.uint8)
    m[y : y + h, x : x + w] = changed_mask(out[y : y + h, x : x + w], image[y : y + h, x : x + w])
    return m


def color_jitter(
    patch: np.ndarray, rng: np.random.Generator, strength: float | tuple[float, float, float, float]
) -> tuple[np.ndarray, dict[str, Any]]:
    """torchvision-style colour jitter of a patch (brightness, contrast, saturation, hue in random order).

    Factors are drawn as ``U(1 - s, 1 + s)`` (hue: a shift ``U(-s, s)`` of the hue circle). Grayscale
    patches get brightness and contrast only.

    Returns:
        the jittered uint8 patch and the drawn factors and order.
    """
    b, c, s, h = (strength,) * 4 if np.isscalar(strength) else strength
    gray = patch.shape[2] == 1
    factors = {
        "brightness": float(rng.uniform(max(0.0, 1 - b), 1 + b)),
        "contrast": float(rng.uniform(max(0.0, 1 - c), 1 + c)),
        "saturation": float(rng.uniform(max(0.0, 1 - s), 1 + s)),
        "hue": float(rng.uniform(-h, h)),
    }
    ops = ["brightness", "contrast"] if gray else ["brightness", "contrast", "saturation", "hue"]
    order = [ops[i] for i in rng.permutation(len(ops))]
    # uint8 after every step, as torchvision does for uint8 images; OpenCV saturates and rounds.
    x = np.ascontiguousarray(patch if not gray else patch[:, :, 0])
    for op in order:
        f = factors[op]
        if op == "brightness":
            x = cv2.addWeighted(x, f, x, 0.0, 0.0)
        elif op == "contrast":
            mean = float((x if gray else cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)).mean())
            x = cv2.addWeighted(x, f, x, 0.0, (1.0 - f) * mean)
        elif op == "saturation":
            g = cv2.cvtColor(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
            x = cv2.addWeighted(x, f, g, 1.0 - f, 0.0)
        elif op == "hue" and f != 0.0:
            hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV_FULL)
            hsv[:, :, 0] += np.uint8(int(round(f * 256)) % 256)  # wraps around the hue circle
            x = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    out = x[:, :, None] if gray else x
    return out, {**{k: factors[k] for k in ops}, "order": order}


def random_regions(
    shape: tuple[int, int],
    rng: np.random.Generator,
    count: tuple[int, int],
    kinds: Sequence[str],
    area: tuple[float, float],
) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    """``count[0]..count[1]`` random regions (each of a kind drawn from ``kinds``, an area fraction
    drawn from ``area``), as :func:`region_mask` makes them; the draws happen as the caller iterates."""
    for _ in range(int(rng.integers(count[0], count[1] + 1))):
        kind = kinds[int(rng.integers(len(kinds)))]
        yield region_mask(shape, rng, kind, float(rng.uniform(*area)))


def region_mask(
    shape: tuple[int, int], rng: np.random.Generator, kind: str, area: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """One random region of about ``area`` (fraction of the image) as an H×W uint8 mask.

    ``kind``: ``rect``, ``ellipse``, ``polygon`` or ``brush`` (a thick random stroke).
    """
    H, W = shape
    a = max(4.0, area * H * W)
    m = np.zeros((H, W), np.uint8)
    cy, cx = float(rng.uniform(0, H)), float(rng.uniform(0, W))
    if kind in ("rect", "ellipse"):
        aspect = float(np.exp(rng.uniform(np.log(0.3), np.log(1 / 0.3))))
        hh = max(2.0, math.sqrt(a / aspect))
        ww = max(2.0, math.sqrt(a * aspect))
        angle = float(rng.uniform(0, 180))
        if kind == "rect":
            pts = cv2.boxPoints(((cx, cy), (ww, hh), angle))
            cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
        else:
            axes = (max(1, int(round(ww / math.sqrt(math.pi)))), max(1, int(round(hh / math.sqrt(math.pi)))))
            cv2.ellipse(m, (int(round(cx)), int(round(cy))), axes, angle, 0, 360, 1, -1)
        params = {"kind": kind, "center": [cy, cx], "size": [hh, ww], "angle": angle}
    elif kind == "polygon":
        n = int(rng.integers(3, 9))
        r = math.sqrt(a / math.pi)
        ang = np.sort(rng.uniform(0, 2 * math.pi, n))
        rad = r * rng.uniform(0.5, 1.5, n)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
        params = {"kind": kind, "vertices": np.round(pts, 2).tolist()}
    elif kind == "brush":
        thickness = int(max(2, round(math.sqrt(a) * rng.uniform(0.15, 0.35))))
        length = a / thickness
        n = int(rng.integers(2, 6))
        step = length / n
        pts = [(cx, cy)]
        ang = float(rng.uniform(0, 2 * math.pi))
        for _ in range(n):
            ang += float(rng.uniform(-1.2, 1.2))
            pts.append((pts[-1][0] + step * math.cos(ang), pts[-1][1] + step * math.sin(ang)))
        cv2.polylines(m, [np.round(np.array(pts)).astype(np.int32)], False, 1, thickness, cv2.LINE_AA)
        m = (m > 0).astype(np.uint8)
        params = {"kind": kind, "points": np.round(np.array(pts), 2).tolist(), "thickness": thickness}
    else:
        raise ValueError(f"unknown region kind {kind!r}")
    return m, params


def paste(
    image: np.ndarray, patch: np.ndarray, y: int, x: int, alpha: np.ndarray | None = None
) -> np.ndarray:
    """Copy of ``image`` with ``patch`` pasted at (y, x); ``alpha`` (H×W bool) limits the pasted pixels."""
    out = image.copy()
    h, w = patch.shape[:2]
    if alpha is None:
        out[y : y + h, x : x + w] = patch
    else:
        region = out[y : y + h, x : x + w]
        region[alpha] = patch[alpha]
    return out


def rotate_with_alpha(patch: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate a patch by ``angle`` degrees with canvas expansion; returns the patch and its support."""
    h, w = patch.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    rot = cv2.warpAffine(patch, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    support = cv2.warpAffine(np.full((h, w), 255, np.uint8), m, (nw, nh), flags=cv2.INTER_LINEAR)
    if rot.ndim == 2:
        rot = rot[:, :, None]
    return rot, support > 127


def force_change(out: np.ndarray, image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Invert ``image`` inside ``region`` (in place on ``out``) so a defect that changed nothing exists.

    ``255 - v != v`` for every integer grey level, so every region pixel changes.
    """
    inside = region.astype(bool)
    out[inside] = 255 - image[inside]
    return out


def paint_until_changed(
    image: np.ndarray, paint: Callable[[], tuple[np.ndarray, np.ndarray, Any]], attempts: int = 10
) -> tuple[np.ndarray, np.ndarray, Any, int, bool]:
    """Call ``paint()`` until the image it paints differs from ``image``, at most ``attempts`` times.

    ``paint`` draws from the caller's ``rng`` and returns ``(out, region, params)``: a painted copy of
    ``image``, the last region it painted and what it drew. When no attempt changed a pixel (a featureless
    input, e.g. black erased with black), the last region is inverted (:func:`force_change`) so that the
    defect exists.

    Returns:
        ``(out, mask, params, attempts_used, forced)``.

    Example:
        >>> img = np.zeros((4, 4, 1), np.uint8)
        >>> region = np.ones((4, 4), np.uint8)
        >>> out, mask, _, used, forced = paint_until_changed(img, lambda: (img.copy(), region, None), 2)
        >>> int(mask.sum()), used, forced
        (16, 2, True)
    """
    for attempt in range(1, attempts + 1):
        out, region, params = paint()
        mask = changed_mask(out, image)
        if mask.any():
            return out, mask, params, attempt, False
    force_change(out, image, region)
    return out, changed_mask(out, image), params, attempts, True

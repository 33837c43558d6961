"""Photos of any size and aspect for a model of one square resolution: squash, pad, or tile.

Every model goes through the same three ways (``fit``) of turning a photo into model inputs and the
outputs back into one map at the photo's own size:

- ``"squash"``: resize to the square (thin defects of a 1:2.5 photo get squeezed);
- ``"pad"``: keep the aspect ratio — the importer's ``--resize pad`` letterbox (scaled to fit, centred,
  zero bars), and the padding cropped off the map before resizing it back;
- ``"tile"``: no resizing — square windows of the model's size at the photo's own resolution, with
  ``overlap`` pixels between neighbours, stitched by a separable tent weighting so that seams do not
  show (a pixel's value is the weighted mean of the windows covering it). The image score is the
  highest window score. Memory: one batch of windows plus two float32 photo-sized accumulators
  (8 bytes per photo pixel).

Example:
    >>> tile_starts(300, 128, 32)
    [0, 86, 172]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from adsynth.data.images import fit as fit_image
from adsynth.errors import ConfigError
from adsynth.zoo.data import photo_box, resize_image, to_tensor

FITS = ("squash", "pad", "tile")


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Window starts covering ``[0, length)`` with windows of ``tile`` overlapping by ``>= overlap``."""
    if not 0 <= overlap < tile:
        raise ConfigError(f"expected 0 <= overlap < tile size ({tile}), got {overlap}")
    if length <= tile:
        return [0]
    n = -(-(length - overlap) // (tile - overlap))  # ceil
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def _tent(n: int) -> np.ndarray:
    """Weights rising linearly from the edges to the centre (never 0, so every pixel counts)."""
    x = np.arange(n, dtype=np.float32)
    return np.minimum(x + 1, n - x) / ((n + 1) / 2)


def _channels(img: np.ndarray, channels: int) -> np.ndarray:
    from adsynth.data.images import to_mode

    return to_mode(img, channels) if img.shape[2] != channels else img


def _run(model: Any, inputs: list[torch.Tensor], batch: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    maps, scores = [], []
    for i in range(0, len(inputs), batch):
        with torch.inference_mode():
            p = model.predict(torch.stack(inputs[i : i + batch]).to(device))
        maps.append(p.anomaly_map.float().cpu())
        scores.append(p.score.float().cpu())
    return torch.cat(maps), torch.cat(scores)


def _back(amap: torch.Tensor, h: int, w: int) -> np.ndarray:
    out = F.interpolate(amap[None, None], size=(h, w), mode="bilinear", align_corners=False)
    return out[0, 0].numpy()


def _letterbox(img: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The importer's ``--resize pad`` of one photo (scaled to fit, centred, zero bars) and the photo's box:
    a model trained on a letterboxed import sees at prediction exactly the layout it was trained on."""
    padded, _ = fit_image(img, None, (size, size), "pad")
    return padded, photo_box((size, size), img.shape[:2], "pad")[0]


def predict_photos(
    model: Any,
    images: list[np.ndarray],
    fit: str = "squash",
    overlap: int | None = None,
    batch: int = 8,
    device: Any = "cpu",
) -> list[tuple[np.ndarray, float]]:
    """``(map at the photo's size, score)`` of each H×W×C uint8 photo (see the module docstring).

    ``overlap`` (tiles) defaults to 32 pixels, or a quarter of the window for models under 128 px.
    """
    if fit not in FITS:
        raise ConfigError(f"unknown fit {fit!r} (valid: {', '.join(FITS)})")
    size, channels = int(model.image_size), int(model.channels)
    overlap = min(32, size // 4) if overlap is None else overlap
    imgs = [_channels(im, channels) for im in images]
    if fit == "squash":
        maps, scores = _run(model, [to_tensor(resize_image(im, size)) for im in imgs], batch, device)
        return [(_back(m, *im.shape[:2]), float(s)) for m, s, im in zip(maps, scores, imgs, strict=True)]
    if fit == "pad":
        boxes = [_letterbox(im, size) for im in imgs]
        maps, scores = _run(model, [to_tensor(p) for p, _ in boxes], batch, device)
        return [
            (_back(m[t : t + nh, left : left + nw], *im.shape[:2]), float(s))
            for m, s, (_, (t, left, nh, nw)), im in zip(maps, scores, boxes, imgs, strict=True)
        ]
    out = []
    for im in imgs:
        h, w = im.shape[:2]
        ph, pw = max(h, size), max(w, size)  # a photo smaller than a window is padded (edge) first
        src = np.pad(im, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge") if (ph, pw) != (h, w) else im
        ys, xs = tile_starts(ph, size, overlap), tile_starts(pw, size, overlap)
        windows = [(y, x) for y in ys for x in xs]
        maps, scores = _run(
            model, [to_tensor(src[y : y + size, x : x + size]) for y, x in windows], batch, device
        )
        acc = np.zeros((ph, pw), np.float32)
        norm = np.zeros((ph, pw), np.float32)
        weight = np.outer(_tent(size), _tent(size))
        for (y, x), m in zip(windows, maps, strict=True):
            m = m.numpy() if tuple(m.shape) == (size, size) else _back(m, size, size)
            acc[y : y + size, x : x + size] += weight * m
            norm[y : y + size, x : x + size] += weight
        out.append(((acc / norm)[:h, :w], float(scores.max())))
    return out

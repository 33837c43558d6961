"""Anomaly maps and image scores of the reconstruction methods, and the options they share.

* :func:`reconstruction_map`, :func:`residual_map`: per-pixel error of an image and its reconstruction;
* :func:`smoothed_map`: a map after a Gaussian blur; :func:`image_scores`, :func:`max_of_smoothed`: the
  image score of a map;
* :func:`check_map_options`: the ``score`` / ``map_sigma`` options of MemAE, MNAD and ssl-ae.

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 16, 16)
    >>> amap = smoothed_map(reconstruction_map(x, x, "l2"), sigma=1.0)
    >>> amap.shape, image_scores(amap, amap, "max").tolist()
    (torch.Size([2, 16, 16]), [0.0, 0.0])
"""

from __future__ import annotations

import torch

from adsynth.errors import ConfigError
from adsynth.zoo.components.blur import gaussian_blur2d, mean_filter2d
from adsynth.zoo.components.losses import ssim_map

__all__ = [
    "RECONSTRUCTION_MAPS",
    "SCORES",
    "check_map_options",
    "default_kernel",
    "image_scores",
    "max_of_smoothed",
    "reconstruction_map",
    "residual_map",
    "smoothed_map",
]

RECONSTRUCTION_MAPS = ("l2", "ssim")
SCORES = ("max", "mean")


def reconstruction_map(x: torch.Tensor, rec: torch.Tensor, kind: str) -> torch.Tensor:
    """B×H×W per-pixel error: squared residual averaged over channels (``l2``), or ``1 − SSIM``."""
    if kind == "ssim":
        return 1.0 - ssim_map(rec, x)
    return (rec.float() - x.float()).pow(2).mean(dim=1)


def residual_map(x: torch.Tensor, rec: torch.Tensor, kernel: int) -> torch.Tensor:
    """B×H×W mean absolute residual over channels (images in [0, 1]), mean-filtered when ``kernel`` > 1
    (border pixels average the pixels inside the image)."""
    return mean_filter2d((x.float() - rec.float()).abs().mean(dim=1), kernel)


def smoothed_map(error: torch.Tensor, sigma: float) -> torch.Tensor:
    """A B×H×W float32 error map after a Gaussian blur of ``sigma`` pixels (no blur for ``sigma <= 0``)."""
    return gaussian_blur2d(error.float(), sigma)


def image_scores(error: torch.Tensor, amap: torch.Tensor, kind: str) -> torch.Tensor:
    """B scores: the maximum of the (smoothed) map (``max``), or the mean of the raw error (``mean``)."""
    return amap.flatten(1).amax(dim=1) if kind == "max" else error.float().flatten(1).mean(dim=1)


def default_kernel(image_size: int) -> int:
    """Mean-filter size for an image score: about 1/16 of the side, odd (9 at 128, 17 at 256)."""
    return max(3, (image_size // 16) | 1)


def max_of_smoothed(amap: torch.Tensor, kernel: int) -> torch.Tensor:
    """Image score: the maximum of the map after a ``kernel``×``kernel`` mean filter (B scores; the
    padding counts as zeros, as in the AE paper's code)."""
    return mean_filter2d(amap, kernel, count_include_pad=True).flatten(1).amax(dim=1)


def check_map_options(image_size: int, score: str, map_sigma: float | None) -> float:
    """Validate the options shared by MemAE, MNAD and ssl-ae; return the map's σ in pixels.

    Their encoders halve the input four times, so ``image_size`` must be a multiple of 16; ``score`` is
    one of :data:`SCORES`; ``map_sigma`` (None: 4 px at 256 px, scaled with the side) must be >= 0.

    Example:
        >>> check_map_options(128, "max", None)
        2.0
    """
    if image_size < 16 or image_size % 16:
        raise ConfigError(f"expected `image_size` to be a multiple of 16, got {image_size}")
    if score not in SCORES:
        raise ConfigError(f"expected `score` to be one of {', '.join(SCORES)}, got {score!r}")
    if map_sigma is not None and float(map_sigma) < 0:
        raise ConfigError(f"expected `map_sigma` to be >= 0, got {map_sigma}")
    # σ = 4 px at 256 px (PatchCore/PaDiM's smoothing), scaled with the image side.
    return float(map_sigma) if map_sigma is not None else image_size / 64

"""Mask-pooled backbone features of defect regions (the appearance part of the realism score).

A region's feature is, at each of the backbone's mid levels (EfficientNet-Lite0 levels 2 and 3, strides
8 and 16), the mean of the feature map weighted by the fraction of each cell that the mask covers
(area-downsampled mask), standardised per channel by the statistics of the *normal* images' feature maps
(so a unit is "one normal variation"), and divided by ``sqrt(channels)`` so that each level weighs the
same. The levels are concatenated.

Example:
    >>> import numpy as np
    >>> enc = RegionEncoder()  # doctest: +SKIP
    >>> enc.fit_normal([np.zeros((64, 64, 3), np.uint8)] * 4)  # doctest: +SKIP
    >>> enc.encode([img], [mask]).shape  # doctest: +SKIP
    (1, 152)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from adsynth.errors import UsageError
from adsynth.zoo.backbones import create_backbone
from adsynth.zoo.bundled_weights import DEFAULT_BACKBONE
from adsynth.zoo.device import resolve_device

#: the feature levels pooled (timm ``out_indices``; for EfficientNet strides 8 and 16)
LEVELS = (2, 3)


def _to_batch(images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    arr = np.stack([im if im.ndim == 3 else im[:, :, None] for im in images])
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).to(device).float().div_(255.0)


class RegionEncoder:
    """The bundled ImageNet backbone as a region encoder (batched, no gradients).

    Args:
        backbone: a timm name with local weights (default: the bundled EfficientNet-Lite0).
        levels: feature levels to pool.
        batch_size: images per forward pass.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:i``.
    """

    def __init__(
        self,
        backbone: str = DEFAULT_BACKBONE,
        levels: Sequence[int] = LEVELS,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UsageError(f"expected `batch_size` to be a positive int, got {batch_size!r}")
        self.device = resolve_device(device)
        net = create_backbone(backbone, out_indices=tuple(levels), pretrained=True)
        self.net = net.eval().to(self.device)
        self.backbone = backbone
        self.weights_source = self.net.weights_source
        self.batch_size = batch_size
        self.channels = list(self.net.feature_info.channels())
        self._mean: list[torch.Tensor] | None = None
        self._std: list[torch.Tensor] | None = None

    @property
    def dim(self) -> int:
        return sum(self.channels)

    def _maps(self, images: Sequence[np.ndarray]):
        """Yield ``(start, feature maps)`` per batch."""
        with torch.inference_mode():
            for s in range(0, len(images), self.batch_size):
                yield s, self.net(_to_batch(images[s : s + self.batch_size], self.device))

    def fit_normal(self, images: Sequence[np.ndarray]) -> None:
        """Per-channel mean and standard deviation of the feature maps of normal images (every
        position), used to standardise region features."""
        if len(images) == 0:
            raise UsageError("no normal images to standardise the features with")
        sums = [torch.zeros(c, dtype=torch.float64) for c in self.channels]
        sq = [torch.zeros(c, dtype=torch.float64) for c in self.channels]
        n = [0] * len(self.channels)
        for _, maps in self._maps(images):
            for k, f in enumerate(maps):
                x = f.double().transpose(0, 1).reshape(f.shape[1], -1).cpu()
                sums[k] += x.sum(1)
                sq[k] += (x * x).sum(1)
                n[k] += x.shape[1]
        self._mean = [s / m for s, m in zip(sums, n, strict=True)]
        self._std = [
            ((q / m - mu * mu).clamp_min(0.0).sqrt() + 1e-6)
            for q, m, mu in zip(sq, n, self._mean, strict=True)
        ]

    def encode(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> np.ndarray:
        """N×D float64: one standardised, mask-pooled feature per (image, mask) pair.

        Images must share one size; masks are H×W 0/1 and not empty.
        """
        if self._mean is None or self._std is None:
            raise UsageError("call fit_normal() before encode()")
        if len(images) != len(masks):
            raise UsageError("expected one mask per image")
        out = np.zeros((len(images), self.dim), np.float64)
        if len(images) == 0:
            return out
        for s, maps in self._maps(images):
            m = torch.from_numpy(np.stack([np.asarray(mk, np.float32) for mk in masks[s : s + len(maps[0])]]))
            m = m[:, None].to(self.device)
            parts = []
            for k, f in enumerate(maps):
                w = F.interpolate(m, size=f.shape[-2:], mode="area")
                pooled = (f * w).sum((2, 3)) / w.sum((2, 3)).clamp_min(1e-12)
                z = (pooled.double().cpu() - self._mean[k]) / self._std[k]
                parts.append(z / np.sqrt(self.channels[k]))
            out[s : s + len(maps[0])] = torch.cat(parts, 1).numpy()
        return out

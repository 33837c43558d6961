"""FYD, Focus Your Distribution (Zheng, Wang, Yuan, Lu, Tang, 2021): align, then model per-position features.

Per-position statistics (PaDiM) assume that a position means the same part of every image. FYD first
aligns the images coarsely, then models the aligned features. Built here: coarse alignment only, as a
global translation found by phase correlation of each image's grey levels against a reference normal
image (the first training image), within ``max_shift`` of the side; the image is shifted (reflected at the
border), its multi-level features (a random subset of ``n_features`` channels, as PaDiM) are scored by the
per-position Gaussians of the aligned training features, and the map is shifted back to the image frame.
Not built: the paper's learned coarse alignment (an STN trained with the features) and its fine,
feature-level alignment (a non-contrastive self-supervised loss on the features).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.features import (
    FeatureModel,
    GaussianAccumulator,
    concat_levels,
    finish_map,
    mahalanobis,
)


def phase_shift(images: torch.Tensor, reference: torch.Tensor, max_shift: float) -> torch.Tensor:
    """B×2 integer (dy, dx) that move each image onto ``reference`` (phase correlation of grey levels)."""
    g = images.float().mean(1)
    g = g - g.mean((-2, -1), keepdim=True)
    r = reference.float() - reference.float().mean()
    cross = torch.fft.rfft2(r).unsqueeze(0) * torch.fft.rfft2(g).conj()
    corr = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-8), s=g.shape[-2:])
    h, w = g.shape[-2:]
    my, mx = int(max_shift * h), int(max_shift * w)
    dy = torch.arange(h, device=g.device)
    dx = torch.arange(w, device=g.device)
    dy, dx = torch.where(dy > h // 2, dy - h, dy), torch.where(dx > w // 2, dx - w, dx)
    allowed = (dy.abs() <= my).view(h, 1) & (dx.abs() <= mx).view(1, w)
    flat = corr.masked_fill(~allowed, float("-inf")).flatten(1).argmax(1)
    return torch.stack([dy[flat // w], dx[flat % w]], 1)


def shift(x: torch.Tensor, d: torch.Tensor, padding: str = "reflection") -> torch.Tensor:
    """Move each B×C×H×W image by its integer (dy, dx): out[y, x] = in[y − dy, x − dx]."""
    b, _, h, w = x.shape
    ys = torch.arange(h, device=x.device, dtype=torch.float32).view(1, h, 1) - d[:, 0].view(b, 1, 1)
    xs = torch.arange(w, device=x.device, dtype=torch.float32).view(1, 1, w) - d[:, 1].view(b, 1, 1)
    gx, gy = torch.broadcast_tensors((2 * xs + 1) / w - 1, (2 * ys + 1) / h - 1)
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(x.float(), grid, mode="nearest", padding_mode=padding, align_corners=False)


@register_model("fyd")
class FYD(FeatureModel):
    """FYD with phase-correlation coarse alignment and PaDiM-style per-position Gaussians.

    Args:
        image_size: training/inference resolution (position-specific: predict at this size).
        channels: 1 or 3.
        backbone, layers, pretrained, weights, backbone_from: the frozen backbone (bundled Lite0,
            levels 1-3, strides 4-16).
        n_features: random channel subset (100, PaDiM's for ≤ 448 channels).
        max_shift: largest translation searched, a fraction of the side (0.25).
        align: False turns the alignment off (plain PaDiM statistics), for comparison.
        eps: covariance regulariser (0.01); sigma: Gaussian blur of the map in pixels (4).
        seed: seed of the channel subset.
    """

    paper = "Zheng et al., Focus your distribution: coarse-to-fine non-contrastive learning, 2021"
    lazy_buffers = ("reference", "mean", "inv_cov")

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        n_features: int = 100,
        max_shift: float = 0.25,
        align: bool = True,
        eps: float = 0.01,
        sigma: float = 4.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            n_features=check_positive_int(n_features, "n_features"),
            max_shift=check_range(max_shift, 0.0, 0.5, "max_shift"),
            align=bool(align),
            eps=check_range(eps, 0.0, 1e6, "eps"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        total = sum(self.level_channels)
        d = min(int(n_features), total)
        self._hparams["n_features"] = d
        gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("channel_idx", torch.randperm(total, generator=gen)[:d].sort().values)
        self.register_buffer("reference", torch.empty(0, 0))
        self.register_buffer("mean", torch.empty(0, d))
        self.register_buffer("inv_cov", torch.empty(0, d, d))
        self._acc = GaussianAccumulator("fyd")

    def offsets(self, images: torch.Tensor) -> torch.Tensor:
        """B×2 integer shifts that align ``images`` to the reference (zeros when alignment is off)."""
        if not self._hparams["align"] or self.reference.numel() == 0:
            return torch.zeros(images.shape[0], 2, dtype=torch.long, device=images.device)
        return phase_shift(images, self.reference.to(images.device), self._hparams["max_shift"])

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """(B×P×d embeddings of the aligned images, B×2 shifts, feature grid)."""
        d = self.offsets(images)
        x = concat_levels(self.levels(shift(images, d).to(images.dtype)))
        x = x.index_select(1, self.channel_idx.to(x.device))
        b, c, h, w = x.shape
        return x.permute(0, 2, 3, 1).reshape(b, h * w, c), d, (h, w)

    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        images = batch["image"]
        if self.reference.numel() == 0:
            self.reference = images[0].float().mean(0).clone()
        self._acc.add(self.embed(images)[0])

    @torch.no_grad()
    def fit_end(self) -> None:
        self.mean, self.inv_cov = self._acc.finish(self._hparams["eps"])

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.require_fitted("mean")
        emb, d, (h, w) = self.embed(images)
        if emb.shape[1] != self.mean.shape[0]:
            raise ValueError(f"fyd models each position: fitted at image_size {self.image_size}")
        dist = mahalanobis(emb, self.mean.to(emb.device), self.inv_cov.to(emb.device)).view(-1, 1, h, w)
        full = F.interpolate(dist, size=images.shape[-2:], mode="bilinear", align_corners=False)
        back = shift(full, -d, padding="border")[:, 0]  # the map in the image's own frame
        amap, score = finish_map(back, images.shape[-2:], self._hparams["sigma"])
        return Prediction(anomaly_map=amap, score=score)

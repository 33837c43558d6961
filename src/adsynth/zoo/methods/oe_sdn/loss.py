"""OE-SDN's losses: Gram-matrix style loss (neural style transfer's) and the outlier-exposure term.

Example:
    >>> import torch
    >>> f = [torch.rand(2, 4, 8, 8)]
    >>> float(style_loss(f, f))
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["gram_matrix", "masked_mse", "style_loss"]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """B×C×C Gram matrices ``F Fᵀ / (C·H·W)`` of B×C×H×W features (Johnson et al.'s normalisation)."""
    b, c, h, w = features.shape
    f = features.float().reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def style_loss(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor], eps: float = 1e-12) -> torch.Tensor:
    """Sum over layers of a normalised squared Frobenius distance between Gram matrices,
    ``mean_i ||G(a[l]_i) − G(b[l]_i)||² / (||G(a[l]_i)||² + ||G(b[l]_i)||²)``, each layer's term in [0, 2].

    The normalisation keeps the loss independent of the features' scale, which changes while the
    teacher that supplies them trains (Gatys et al.'s absolute form is ~1e-8 here); dividing by the
    target's norm alone was unstable on magnetic tile (terms up to 5 on dark images).
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"expected the same non-zero number of layers, got {len(a)} and {len(b)}")
    total = 0.0
    for x, y in zip(a, b, strict=True):
        gx, gy = gram_matrix(x), gram_matrix(y)
        num = (gx - gy).pow(2).flatten(1).sum(1)
        den = gx.pow(2).flatten(1).sum(1) + gy.pow(2).flatten(1).sum(1)
        total = total + (num / den.clamp_min(eps)).mean()
    return total


def masked_mse(x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of ``(x − y)²`` over channels, weighted per pixel by ``weight`` (B×1×H×W, e.g. a defect mask);
    zero when the weight is zero everywhere."""
    err = (x.float() - y.float()).pow(2).mean(dim=1, keepdim=True)
    return (err * weight).sum() / weight.sum().clamp_min(1.0)

"""GLASS's feature-space operations and losses, as pure functions on B×D×h×w tensors (channels = dim 1).

* :func:`ring_projection`: scale each position's offset from an anchor so that its length lies in a ring
  ``[lo, hi]`` (GLASS projects its synthetic features this way: the global ones around the normal feature
  or the normal centre, the local ones further out around the centre).
* :func:`ascent_step`: one step of gradient *ascent* on the discriminator's loss of the synthetic
  features, along the gradient normalised per position (the step's length is the same everywhere).
* :func:`hard_focal_loss`: the focal loss on the hardest fraction of positions (GLASS's online hard
  mining of the local anomalies' scores).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from adsynth.zoo.components.synthetic_features import binary_focal_loss


def ring_projection(offset: torch.Tensor, lo: float | torch.Tensor, hi: float | torch.Tensor) -> torch.Tensor:
    """``offset`` rescaled per position so that its L2 length over dim 1 is clamped to ``[lo, hi]``.

    Example:
        >>> x = torch.tensor([[[[3.0]], [[4.0]]]])  # one position, length 5
        >>> float(ring_projection(x, 1.0, 2.0).norm())
        2.0
    """
    norm = offset.norm(dim=1, keepdim=True)
    target = torch.minimum(torch.maximum(norm, torch.as_tensor(lo, dtype=norm.dtype)), torch.as_tensor(hi))
    return offset * (target / (norm + 1e-10))


def ascent_step(loss: torch.Tensor, delta: torch.Tensor, size: float) -> torch.Tensor:
    """``delta`` moved by ``size`` along the per-position unit gradient of ``loss`` (no graph kept)."""
    (grad,) = torch.autograd.grad(loss, [delta])
    unit = grad / (grad.norm(dim=1, keepdim=True) + 1e-10)
    return (delta + size * unit).detach()


def hard_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, hard_fraction: float, gamma: float = 2.0
) -> torch.Tensor:
    """Focal loss over the positions whose squared error ``(sigmoid(logit) − target)²`` is at or above
    its ``1 − hard_fraction`` quantile (``hard_fraction = 1``: every position), as GLASS's mining with
    ``p = 1 − hard_fraction``."""
    logits, target = logits.flatten(), target.flatten().to(logits.dtype)
    if hard_fraction < 1.0 and logits.numel() > 1:
        err = (torch.sigmoid(logits.detach()) - target) ** 2
        keep = err >= torch.quantile(err, 1.0 - hard_fraction)
        logits, target = logits[keep], target[keep]
    return binary_focal_loss(logits, target, gamma=gamma)


def bce_pair(normal: torch.Tensor, anomalous: torch.Tensor) -> torch.Tensor:
    """``BCE(normal logits, 0) + BCE(anomalous logits, 1)``, each a mean (GLASS's normal + GAS term)."""
    return F.binary_cross_entropy_with_logits(
        normal, torch.zeros_like(normal)
    ) + F.binary_cross_entropy_with_logits(anomalous, torch.ones_like(anomalous))

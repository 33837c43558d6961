"""Patch-wise InfoNCE against a set of negatives, and the patch grids of contrastive predictive coding.

* :func:`info_nce_per_anchor`: the InfoNCE loss of each prediction, its positive scored against the same
  negatives for every row (a sample of the batch in training, a stored bank of normal embeddings at
  test time, so that a test score does not depend on the rest of the batch);
* :func:`sample_rows`: a seeded sample of rows (the negatives of a training step);
* :func:`grid_patches` / :func:`patches_to_map`: cut images into a grid of overlapping square patches and
  spread per-patch values back onto the pixels (the mean of the patches that cover a pixel).

Example:
    >>> import torch
    >>> z = torch.eye(3)
    >>> loss = info_nce_per_anchor(10 * z, z, z[[1, 2]])
    >>> loss.shape, bool(loss[0] < 1e-3), bool(loss[1] > 9)
    (torch.Size([3]), True, True)
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["grid_patches", "grid_size", "info_nce_per_anchor", "patches_to_map", "sample_rows"]


def info_nce_per_anchor(
    preds: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor
) -> torch.Tensor:
    """InfoNCE of each of M predictions: ``−log softmax`` of its positive among the shared negatives.

    Args:
        preds: M×D predicted embeddings (CPC's ``W_k c_t``).
        positives: M×D true embeddings, row i the positive of prediction i.
        negatives: S×D embeddings that every prediction is contrasted with.

    Returns:
        M losses ``log(exp(p·z⁺) + Σ_n exp(p·z_n)) − p·z⁺`` (float32), each >= 0.
    """
    pos = (preds * positives).sum(1, keepdim=True)
    logits = torch.cat([pos, preds @ negatives.T], dim=1).float()
    return torch.logsumexp(logits, dim=1) - logits[:, 0]


def sample_rows(x: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` rows of the N×D ``x`` drawn without replacement with ``generator`` (all rows when N <= n)."""
    if len(x) <= n:
        return x
    idx = torch.randperm(len(x), generator=generator)[:n].to(x.device)
    return x[idx]


def grid_size(size: int, patch: int, stride: int) -> int:
    """Patches per side of a ``size`` side cut into ``patch``-px patches every ``stride`` px."""
    return (size - patch) // stride + 1


def grid_patches(images: torch.Tensor, patch: int, stride: int) -> torch.Tensor:
    """B×C×H×W images → B×R×Q×C×patch×patch patches (R rows, Q columns of the grid)."""
    b, c, h, w = images.shape
    cols = F.unfold(images, patch, stride=stride)  # B×(C·p·p)×(R·Q)
    r, q = grid_size(h, patch, stride), grid_size(w, patch, stride)
    return cols.transpose(1, 2).reshape(b, r, q, c, patch, patch)


def patches_to_map(values: torch.Tensor, size: tuple[int, int], patch: int, stride: int) -> torch.Tensor:
    """B×R×Q per-patch values → B×H×W: each pixel the mean value of the patches that cover it (pixels no
    patch covers, at the right/bottom border when the grid does not reach it, take the nearest patch's)."""
    b, r, q = values.shape
    h, w = size
    cover_h, cover_w = (r - 1) * stride + patch, (q - 1) * stride + patch
    cols = values.reshape(b, 1, r * q).expand(b, patch * patch, r * q).float()
    total = F.fold(cols, (cover_h, cover_w), patch, stride=stride)
    count = F.fold(torch.ones_like(cols[:1]), (cover_h, cover_w), patch, stride=stride)
    out = total / count
    if (cover_h, cover_w) != (h, w):
        out = F.pad(out, (0, w - cover_w, 0, h - cover_h), mode="replicate")
    return out[:, 0]

"""DeSTSeg's two losses: the denoising student's cosine distance to the teacher, and the segmentation
head's focal + L1 loss on the synthetic masks.

Example:
    >>> import torch
    >>> t = [torch.ones(2, 4, 3, 3)]
    >>> float(cosine_distance_loss(t, t)["loss"])
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from adsynth.zoo.components.distillation import cosine_distance_maps
from adsynth.zoo.components.losses import focal_loss


def cosine_distance_loss(
    teacher: Sequence[torch.Tensor], student: Sequence[torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``Σ_levels mean(1 − cos(t, s))`` over images and positions, and each level's term (``loss_l0``, ...).

    The reference code sums the per-image means over the batch; the mean here keeps the step size
    independent of the batch size (the learning rate absorbs the factor).
    """
    terms = {f"cos_l{i}": m.mean() for i, m in enumerate(cosine_distance_maps(teacher, student))}
    return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}


def defect_balanced_weights(target: torch.Tensor) -> torch.Tensor:
    """Pixel weights that give every image's defect the same total weight: a defect pixel of image b
    weighs ``Ā / A_b`` (``A_b`` its defect's area, ``Ā`` the mean area of the batch's defects), a normal
    pixel 1. The total weight of the defect pixels is that of plain pixel weighting; a large region no
    longer outweighs a small one.

    Example:
        >>> t = torch.zeros(2, 1, 4, 4); t[0, 0, :1, :1] = 1; t[1, 0, :2, :] = 1  # areas 1 and 8
        >>> w = defect_balanced_weights(t)
        >>> float(w[0, 0, 0, 0]), float(w[1, 0, 0, 0]), float(w[0, 0, 3, 3])
        (4.5, 0.5625, 1.0)
    """
    area = target.flatten(1).sum(1)
    has = area > 0
    if not bool(has.any()):
        return torch.ones_like(target)
    per_image = torch.where(has, area[has].mean() / area.clamp_min(1.0), torch.ones_like(area))
    return torch.where(target > 0, per_image.view(-1, *([1] * (target.ndim - 1))), torch.ones_like(target))


def segmentation_loss(
    logits: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 4.0,
    focal_weight: float = 1.0,
    l1_weight: float = 1.0,
    balance: str = "pixel",
) -> dict[str, torch.Tensor]:
    """``focal_weight · Focal_γ(σ(logits), mask) + l1_weight · |σ(logits) − mask|``, means over pixels.

    Args:
        logits: B×1×H×W segmentation logits, at the mask's resolution.
        mask: B×1×H×W (or B×H×W) mask; values above 0.5 are anomalous.
        gamma: the focal loss' focusing parameter (paper: 4).
        focal_weight, l1_weight: weights of the two terms (paper: 1 and 1).
        balance: ``"pixel"`` (the paper: every pixel counts once) or ``"defect"`` (every image's defect
            counts as much as another's: :func:`defect_balanced_weights`).

    Returns:
        ``loss`` and its terms ``focal`` and ``l1`` (detached).
    """
    target = (mask > 0.5).float()
    target = target if target.ndim == 4 else target[:, None]
    prob = torch.sigmoid(logits.float())
    if balance == "defect":
        w = defect_balanced_weights(target)
        focal = focal_loss(torch.cat([1.0 - prob, prob], 1), target.long(), gamma=gamma, weight=w[:, 0])
        l1 = ((prob - target).abs() * w).sum() / w.sum()
    else:
        focal = focal_loss(torch.cat([1.0 - prob, prob], 1), target.long(), gamma=gamma)
        l1 = F.l1_loss(prob, target)
    return {"loss": focal_weight * focal + l1_weight * l1, "focal": focal.detach(), "l1": l1.detach()}

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


def segmentation_loss(
    logits: torch.Tensor,
    mask: torch.Tensor,
    gamma: float = 4.0,
    focal_weight: float = 1.0,
    l1_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """``focal_weight · Focal_γ(σ(logits), mask) + l1_weight · |σ(logits) − mask|``, means over pixels.

    Args:
        logits: B×1×H×W segmentation logits, at the mask's resolution.
        mask: B×1×H×W (or B×H×W) mask; values above 0.5 are anomalous.
        gamma: the focal loss' focusing parameter (paper: 4).
        focal_weight, l1_weight: weights of the two terms (paper: 1 and 1).

    Returns:
        ``loss`` and its terms ``focal`` and ``l1`` (detached).
    """
    target = (mask > 0.5).float()
    target = target if target.ndim == 4 else target[:, None]
    prob = torch.sigmoid(logits.float())
    focal = focal_loss(torch.cat([1.0 - prob, prob], 1), target.long(), gamma=gamma)
    l1 = F.l1_loss(prob, target)
    return {"loss": focal_weight * focal + l1_weight * l1, "focal": focal.detach(), "l1": l1.detach()}

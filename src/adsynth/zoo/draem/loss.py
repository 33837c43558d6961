"""DRAEM's loss: L2 + SSIM reconstruction of the clean image, focal loss on the segmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from adsynth.zoo.losses import focal_loss, ssim_loss


def draem_loss(
    rec: torch.Tensor, target: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor, gamma: float = 2.0
) -> dict[str, torch.Tensor]:
    """``MSE(rec, target) + (1 − SSIM(rec, target)) + Focal(softmax(logits), mask)``, all weights 1.

    Args:
        rec: B×C×H×W reconstruction of the augmented image.
        target: B×C×H×W clean image.
        logits: B×2×H×W segmentation logits.
        mask: B×1×H×W (or B×H×W) 0/1 mask of the synthetic anomaly.
        gamma: focal-loss focusing parameter.

    Returns:
        ``loss`` and its terms ``l2``, ``ssim``, ``focal``.
    """
    l2 = F.mse_loss(rec.float(), target.float())
    ss = ssim_loss(rec, target)
    focal = focal_loss(logits.float().softmax(dim=1), (mask > 0.5).long(), gamma=gamma)
    return {"loss": l2 + ss + focal, "l2": l2, "ssim": ss, "focal": focal}

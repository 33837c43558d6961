"""RIAD's loss: L2 + MSGMS + SSIM of the recombined inpainting (METHODS §4.1).

MSGMS itself (shared with InTra) is :mod:`adsynth.zoo.components.msgms`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from adsynth.zoo.components.losses import ssim_loss
from adsynth.zoo.components.msgms import msgms_loss

__all__ = ["riad_loss"]


def riad_loss(
    rec: torch.Tensor,
    target: torch.Tensor,
    l2_weight: float = 1.0,
    gms_weight: float = 1.0,
    ssim_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """``γ·MSE + α·MSGMS + β·(1 − SSIM)`` of the recombined inpainting (RIAD: α = β = γ = 1).

    Returns:
        ``loss`` and its terms ``l2``, ``msgms``, ``ssim``.
    """
    l2 = F.mse_loss(rec.float(), target.float())
    g = msgms_loss(rec, target)
    s = ssim_loss(rec, target)
    return {"loss": l2_weight * l2 + gms_weight * g + ssim_weight * s, "l2": l2, "msgms": g, "ssim": s}

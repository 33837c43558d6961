"""Training helpers of the adversarial methods: WGAN-GP's gradient penalty and the epoch split of
two-phase training (f-AnoGAN, OGNet).

Example:
    >>> split_epoch(0.6, 10), split_epoch(0.99, 10), split_epoch(0.5, 1)
    (6, 9, 1)
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["gradient_penalty", "split_epoch"]


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP's penalty ``E[(‖∇D(x̃)‖₂ − 1)²]`` on random interpolates x̃ of real and fake samples.

    Computed in float32 outside autocast: the input gradient of the critic must not be scaled or rounded.
    ε ~ U(0, 1) per sample comes from the global torch RNG of the inputs' device.

    Example:
        >>> import torch
        >>> lin = torch.nn.Linear(4, 1, bias=False)
        >>> _ = torch.nn.init.constant_(lin.weight, 0.5)  # ‖w‖₂ = 1: a 1-Lipschitz critic
        >>> round(float(gradient_penalty(lin, torch.rand(8, 4), torch.rand(8, 4))), 6)
        0.0
    """
    real, fake = real.detach().float(), fake.detach().float()
    eps = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    with torch.autocast(real.device.type, enabled=False):
        out = critic(mixed)
    (grad,) = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def split_epoch(fraction: float, epochs: int) -> int:
    """First epoch of the second phase: ``round(fraction · epochs)``, kept in ``[1, epochs − 1]`` when
    there are at least two epochs (each phase gets one), ``epochs`` (no second phase) otherwise."""
    if epochs < 2:
        return epochs
    return min(max(1, round(fraction * epochs)), epochs - 1)

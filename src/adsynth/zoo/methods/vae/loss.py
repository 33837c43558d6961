"""The KL term of the VAE loss."""

from __future__ import annotations

import torch


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over the code, averaged over the batch.

    Example:
        >>> import torch
        >>> float(kl_divergence(torch.zeros(2, 4, 1, 1), torch.zeros(2, 4, 1, 1)))
        0.0
    """
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).flatten(1).sum(dim=1).mean()

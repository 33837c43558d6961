"""A memory of learnt items addressed by attention with hard shrinkage (MemAE, Gong et al. ICCV 2019).

Example:
    >>> import torch
    >>> z_hat, w = MemoryModule(memory_size=5, feature_dim=4)(torch.randn(3, 4))
    >>> z_hat.shape, w.shape
    (torch.Size([3, 4]), torch.Size([3, 5]))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SIMILARITIES", "MemoryModule", "addressing_entropy", "hard_shrink"]

SIMILARITIES = ("cosine", "dot")


def hard_shrink(weights: torch.Tensor, threshold: float, eps: float = 1e-12) -> torch.Tensor:
    """MemAE's continuous hard shrinkage: ``w`` where ``w > λ``, else 0, then L1 re-normalisation.

    The step is written as ``ReLU(w − λ)·w / (|w − λ| + ε)`` so that it has a gradient where it is not
    zero (the paper's relaxation of ``w·1[w > λ]``, valid for w ≥ 0).

    Args:
        weights: ... × N non-negative addressing weights (rows sum to 1).
        threshold: λ; weights at or below it are set to 0.
        eps: keeps the division finite at ``w = λ`` and for rows that shrink to all zeros.

    Returns:
        The shrunk weights, each row re-normalised to sum 1 (a row with no weight above λ stays 0).

    Example:
        >>> hard_shrink(torch.tensor([[0.7, 0.2, 0.1]]), 0.15)
        tensor([[0.7778, 0.2222, 0.0000]])
    """
    shrunk = F.relu(weights - threshold) * weights / ((weights - threshold).abs() + eps)
    return shrunk / shrunk.sum(dim=-1, keepdim=True).clamp_min(eps)


def addressing_entropy(weights: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Mean over queries of ``−Σ_i w_i log w_i`` (0 for one-hot weights): MemAE's sparsity loss."""
    return -(weights * (weights + eps).log()).sum(dim=-1).mean()


class MemoryModule(nn.Module):
    """A memory of N items of C dims, addressed per query by attention with hard shrinkage.

    Args:
        memory_size: N.
        feature_dim: C.
        shrink_threshold: λ of :func:`hard_shrink` (0 disables shrinkage).
        similarity: ``"cosine"`` (the paper's addressing) or ``"dot"`` (the reference code's
            ``F.linear(z, M)``).
        temperature: the cosine similarity is divided by it before the softmax (see the README).

    Example:
        >>> mem = MemoryModule(memory_size=50, feature_dim=8)
        >>> z_hat, w = mem(torch.randn(10, 8))
        >>> z_hat.shape, w.shape, bool(torch.allclose(w.sum(1), torch.ones(10)))
        (torch.Size([10, 8]), torch.Size([10, 50]), True)
    """

    def __init__(
        self,
        memory_size: int,
        feature_dim: int,
        shrink_threshold: float = 0.0025,
        similarity: str = "cosine",
        temperature: float = 0.1,
    ) -> None:
        super().__init__()
        self.shrink_threshold = float(shrink_threshold)
        self.similarity = similarity
        self.temperature = float(temperature)
        bound = feature_dim**-0.5
        self.items = nn.Parameter(torch.empty(memory_size, feature_dim).uniform_(-bound, bound))

    def address(self, queries: torch.Tensor) -> torch.Tensor:
        """Q×N addressing weights of Q×C queries: softmax of the similarity, then hard shrinkage."""
        if self.similarity == "cosine":
            logits = F.normalize(queries, dim=1) @ F.normalize(self.items, dim=1).t() / self.temperature
        else:
            logits = queries @ self.items.t()
        weights = logits.float().softmax(dim=1)
        if self.shrink_threshold > 0:
            weights = hard_shrink(weights, self.shrink_threshold)
        return weights

    def forward(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ẑ, w)`` for Q×C queries: the read-out Q×C and the addressing weights Q×N."""
        weights = self.address(queries)
        return weights.to(self.items.dtype) @ self.items, weights

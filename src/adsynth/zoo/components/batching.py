"""Batch plumbing of the inpainting methods: per-item random generators and chunked forward passes.

Example:
    >>> import torch
    >>> chunked(lambda t: t * 2, torch.arange(5.0), size=2).tolist()
    [0.0, 2.0, 4.0, 6.0, 8.0]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["batch_rngs", "chunked"]


def batch_rngs(seed: int, step: int, batch: dict[str, torch.Tensor]) -> list[np.random.Generator]:
    """One generator per item, from (seed, training step, dataset row): independent of batch composition
    and of the worker count, and reproduced exactly on ``--resume`` (the step counter is a buffer).

    Example:
        >>> batch = {"image": torch.zeros(2, 1, 4, 4), "index": torch.tensor([7, 3])}
        >>> len(batch_rngs(0, 5, batch))
        2
    """
    n = int(batch["image"].shape[0])
    rows = batch["index"].tolist() if "index" in batch else list(range(n))
    return [np.random.default_rng([seed, step, int(r)]) for r in rows]


def chunked(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, size: int) -> torch.Tensor:
    """``fn`` applied to ``x`` in chunks of ``size`` along the batch dimension, concatenated."""
    return torch.cat([fn(x[i : i + size]) for i in range(0, x.shape[0], size)])

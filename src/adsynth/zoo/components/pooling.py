"""Adaptive average pooling of the last axis as a fixed matrix product (exportable to ONNX).

``F.adaptive_avg_pool1d`` pools ``c`` values into ``dim`` bins, bin ``i`` covering
``[floor(i·c/dim), ceil((i+1)·c/dim))``. The same bins as a ``c×dim`` averaging matrix give the same
numbers (up to float rounding), run as one matmul, and export to ONNX, where the adaptive operator
needs sizes known at export time.

Example:
    >>> import torch
    >>> x = torch.rand(5, 7)
    >>> torch.allclose(pool_last_axis(x, 3), torch.nn.functional.adaptive_avg_pool1d(x[:, None], 3)[:, 0])
    True
"""

from __future__ import annotations

import functools

import torch

__all__ = ["pool_last_axis", "pooling_matrix"]


@functools.lru_cache(maxsize=64)
def _matrix(c: int, dim: int) -> torch.Tensor:
    m = torch.zeros(c, dim, dtype=torch.float64)
    for i in range(dim):
        start, end = (i * c) // dim, -((-(i + 1) * c) // dim)
        m[start:end, i] = 1.0 / (end - start)
    return m


def pooling_matrix(c: int, dim: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """The ``c×dim`` matrix of ``adaptive_avg_pool1d`` from ``c`` to ``dim`` values."""
    return _matrix(int(c), int(dim)).to(dtype=dtype, device=device)


def pool_last_axis(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``adaptive_avg_pool1d`` over the last axis of ``x`` (any leading shape) to ``dim`` values."""
    return x @ pooling_matrix(x.shape[-1], dim, x.dtype, x.device)

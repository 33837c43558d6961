"""Normalising-flow parts shared by FastFlow, CFLOW-AD and DifferNet: invertible networks built from
FrEIA's ``AllInOneBlock`` (the maintained library anomalib also uses), subnet constructors, the 2-D
positional encoding of CFLOW and the Gaussian log-likelihood.

Choice of library: FrEIA's ``AllInOneBlock`` is an affine coupling with soft clamping, a learned global
affine scaling and a fixed channel permutation, the block of the reference implementations of DifferNet,
CFLOW-AD, CS-Flow's authors and of anomalib's FastFlow. Writing our own coupling would only re-derive it.
Two things are adapted here: FrEIA draws each block's permutation from NumPy's *global* generator when it
is built, so :func:`build_flow` overwrites it with one drawn from a seeded local ``torch.Generator`` (and
restores NumPy's global state); and
flows run in float32 (:func:`float32`) also under the trainer's bf16/fp16 autocast, since the
log-determinant is a sum of many small terms and exp(clamped scale) must not overflow.

Example:
    >>> import torch
    >>> flow = build_flow((8,), n_blocks=2, subnet=fc_subnet(2.0), clamp=1.9, seed=0)
    >>> z, log_det = flow(torch.randn(5, 8))
    >>> z.shape, log_det.shape
    (torch.Size([5, 8]), torch.Size([5]))
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence

import FrEIA.framework as Ff
import FrEIA.modules as Fm
import numpy as np
import torch
from torch import nn

#: log(2π)/2, the per-dimension constant of the standard normal log-density.
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def conv_subnet(kernel: int, hidden_ratio: float) -> Callable[[int, int], nn.Module]:
    """FastFlow's coupling subnet: ``Conv(k) → ReLU → Conv(k)`` with ``hidden_ratio × in`` hidden
    channels ('same' padding)."""

    def make(cin: int, cout: int) -> nn.Module:
        hidden = max(1, int(cin * hidden_ratio))
        return nn.Sequential(
            nn.Conv2d(cin, hidden, kernel, padding=kernel // 2),
            nn.ReLU(),
            nn.Conv2d(hidden, cout, kernel, padding=kernel // 2),
        )

    return make


def fc_subnet(hidden_ratio: float = 2.0, hidden: int | None = None) -> Callable[[int, int], nn.Module]:
    """The fully connected subnet of CFLOW / DifferNet: ``Linear → ReLU → Linear`` with ``hidden`` (or
    ``hidden_ratio × in``) hidden units."""

    def make(cin: int, cout: int) -> nn.Module:
        width = hidden or max(1, int(cin * hidden_ratio))
        return nn.Sequential(nn.Linear(cin, width), nn.ReLU(), nn.Linear(width, cout))

    return make


def _set_permutation(block: Fm.AllInOneBlock, gen: torch.Generator, soft: bool) -> None:
    """Replace FrEIA's globally-drawn permutation of ``block`` by one from ``gen`` (a random
    permutation, or with ``soft`` a random rotation as FrEIA's ``permute_soft``)."""
    c = block.in_channels
    if soft:
        q, r = torch.linalg.qr(torch.randn(c, c, generator=gen, dtype=torch.float64))
        w = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
        if torch.det(w) < 0:
            w[:, 0] = -w[:, 0]
    else:
        w = torch.eye(c, dtype=torch.float64)[torch.randperm(c, generator=gen)]
    shape = block.w_perm.shape
    block.w_perm.data.copy_(w.float().view(shape))
    block.w_perm_inv.data.copy_(w.T.contiguous().float().view(shape))


def build_flow(
    dims: Sequence[int],
    n_blocks: int,
    subnet: Callable[[int, int], nn.Module] | Sequence[Callable[[int, int], nn.Module]],
    clamp: float,
    cond_dims: int | None = None,
    seed: int = 0,
    permute_soft: bool = False,
) -> Ff.SequenceINN:
    """A FrEIA ``SequenceINN`` of ``n_blocks`` ``AllInOneBlock`` couplings over inputs of shape ``dims``
    (C, or C×H×W for convolutional subnets).

    Args:
        dims: per-sample input shape.
        n_blocks: coupling blocks.
        subnet: a subnet constructor, or one per block (FastFlow alternates 3×3 and 1×1).
        clamp: soft clamping of the log-scales (``affine_clamping``).
        cond_dims: channels of a condition concatenated to each block's subnet input (CFLOW), or None.
        seed: seed of the blocks' channel permutations.
        permute_soft: random rotations instead of permutations between blocks (CFLOW's choice).
    """
    makers = list(subnet) if isinstance(subnet, Sequence) else [subnet] * n_blocks
    if len(makers) != n_blocks:
        raise ValueError(f"expected {n_blocks} subnet constructors, got {len(makers)}")
    flow = Ff.SequenceINN(*dims)
    gen = torch.Generator().manual_seed(int(seed))
    numpy_state = np.random.get_state()  # FrEIA draws from it: leave the caller's stream untouched
    try:
        for make in makers:
            kw = {"cond": 0, "cond_shape": (cond_dims,)} if cond_dims is not None else {}
            flow.append(
                Fm.AllInOneBlock,
                subnet_constructor=make,
                affine_clamping=clamp,
                global_affine_type="SOFTPLUS",
                **kw,
            )
            _set_permutation(flow.module_list[-1], gen, permute_soft)
    finally:
        np.random.set_state(numpy_state)
    return flow


def float32(device: torch.device):
    """A context that turns autocast off on ``device`` (flows and their log-determinants in float32)."""
    if device.type not in ("cuda", "cpu"):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, enabled=False)


def run_flow(flow: nn.Module, x: torch.Tensor, cond: torch.Tensor | None = None):
    """``(z, log|det J|)`` of ``flow`` on ``x`` (and condition ``cond``), in float32."""
    with float32(x.device):
        c = None if cond is None else [cond.float()]
        return flow(x.float(), c=c)


def gaussian_log_likelihood(z: torch.Tensor, log_det: torch.Tensor) -> torch.Tensor:
    """Per-sample log-likelihood under the flow: ``−D·log(2π)/2 − ½‖z‖² + log|det J|`` (z B×..., D the
    elements per sample)."""
    d = z[0].numel()
    return -d * HALF_LOG_2PI - 0.5 * z.flatten(1).pow(2).sum(1) + log_det


def positional_encoding_2d(dim: int, height: int, width: int) -> torch.Tensor:
    """CFLOW's 2-D sinusoidal positional encoding: ``dim`` (a multiple of 4) × height × width; the first
    half encodes the column, the second the row, each with sines and cosines of geometric frequencies."""
    if dim % 4:
        raise ValueError(f"expected a positional-encoding dimension that is a multiple of 4, got {dim}")
    half = dim // 2
    freq = torch.exp(torch.arange(0.0, half, 2) * -(math.log(1e4) / half))
    x = torch.arange(width, dtype=torch.float32).unsqueeze(1) * freq  # W×half/2
    y = torch.arange(height, dtype=torch.float32).unsqueeze(1) * freq  # H×half/2
    pe = torch.zeros(dim, height, width)
    pe[0:half:2] = torch.sin(x).T.unsqueeze(1).expand(-1, height, -1)
    pe[1:half:2] = torch.cos(x).T.unsqueeze(1).expand(-1, height, -1)
    pe[half::2] = torch.sin(y).T.unsqueeze(2).expand(-1, -1, width)
    pe[half + 1 :: 2] = torch.cos(y).T.unsqueeze(2).expand(-1, -1, width)
    return pe

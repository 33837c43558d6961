"""``torchrun`` support: the process group, and gradient averaging for multi-optimizer models.

Under ``WORLD_SIZE > 1`` the gradient phase runs on every rank (NCCL on CUDA, Gloo on CPU); rank 0 alone
writes checkpoints and logs, and runs the fitting pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from adsynth.errors import ConfigError


@dataclass
class Dist:
    """This process's place in the run (one process: rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> tuple[Dist, torch.device]:
    """Join the process group that ``torchrun`` describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``).

    Returns the rank information and the device of this rank (``cuda:LOCAL_RANK`` on CUDA).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), device
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, local, world), device


def check_distributable(model: nn.Module, d: Dist) -> None:
    """Raise the model's own :class:`~adsynth.errors.ConfigError` when it cannot train in ``d.world``
    processes (its ``single_process_reason``)."""
    reason = getattr(model, "single_process_reason", None) if d.world > 1 else None
    if reason:
        raise ConfigError(reason)


def finish_distributed(d: Dist) -> None:
    """Leave the process group (nothing to do in a single-process run)."""
    if d.world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def sync_gradients(opt: torch.optim.Optimizer, world: int) -> None:
    """Average the gradients of ``opt``'s parameters over the ranks (multi-optimizer models under DDP).

    A parameter without a gradient gets zeros, so that every rank reduces the same tensors.
    """
    import torch.distributed as dist

    for group in opt.param_groups:
        for p in group["params"]:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad.div_(world)


def broadcast_model(model: nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (what DDP does when it wraps a model)."""
    import torch.distributed as dist

    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            dist.broadcast(t, 0)

"""What ``configure_optimizers`` returns, in one shape, and the training step as a module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from adsynth.errors import ConfigError


class TrainingStep(nn.Module):
    """``forward(batch) = model.training_step(batch)``, so that DDP and torch.compile see the step.

    With several optimizers, ``forward(batch, i) = model.training_step(batch, optimizer_idx=i)``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, batch: dict[str, torch.Tensor], optimizer_idx: int | None = None
    ) -> dict[str, torch.Tensor] | None:
        if optimizer_idx is None:
            return self.model.training_step(batch)
        return self.model.training_step(batch, optimizer_idx=optimizer_idx)


@dataclass
class Optimizers:
    """What ``configure_optimizers`` returned, as a list of (optimizer, scheduler) pairs.

    ``multi`` is True when the model returned a list: its ``training_step`` then takes
    ``optimizer_idx`` and checkpoints store lists of states.
    """

    pairs: list[tuple[torch.optim.Optimizer, Any]]
    multi: bool

    @classmethod
    def of(cls, configured: Any) -> Optimizers:
        if isinstance(configured, list):
            if not configured:
                raise ConfigError("configure_optimizers() returned an empty list")
            pairs = []
            for i, pair in enumerate(configured):
                if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                    raise ConfigError(
                        f"configure_optimizers(): item {i} must be an (optimizer, scheduler) pair, "
                        f"got {pair!r}"
                    )
                pairs.append((pair[0], pair[1]))
            return cls(pairs, True)
        opt, sched = configured
        return cls([(opt, sched)], False)

    def state(self) -> dict[str, Any]:
        """``optimizer`` and ``scheduler`` states for ``last.pt`` (lists when ``multi``)."""
        opts = [o.state_dict() for o, _ in self.pairs]
        scheds = [s.state_dict() if s is not None else None for _, s in self.pairs]
        if not self.multi:
            return {"optimizer": opts[0], "scheduler": scheds[0]}
        return {"optimizer": opts, "scheduler": scheds}

    def load(self, ckpt: dict[str, Any]) -> bool:
        """Restore the states of a checkpoint; False when it holds none (a fit-only run's ``last.pt``)."""
        opts, scheds = ckpt.get("optimizer"), ckpt.get("scheduler")
        if opts is None:
            return False
        if not isinstance(opts, list):
            opts, scheds = [opts], [scheds]
        if len(opts) != len(self.pairs):
            raise ConfigError(
                f"cannot resume: the checkpoint has {len(opts)} optimizer state(s), "
                f"the model {len(self.pairs)}"
            )
        scheds = scheds if isinstance(scheds, list) else [None] * len(opts)
        for (opt, sched), o, s in zip(self.pairs, opts, scheds, strict=True):
            opt.load_state_dict(o)
            if sched is not None and s is not None:
                sched.load_state_dict(s)
        return True

    def step_schedulers(self) -> None:
        for _, sched in self.pairs:
            if sched is not None:
                sched.step()

    @property
    def lr(self) -> float:
        return self.pairs[0][0].param_groups[0]["lr"]

"""Where a model runs: ``--device auto|cpu|cuda|cuda:i`` turned into a :class:`torch.device`.

Example:
    >>> from adsynth.zoo.device import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
"""

from __future__ import annotations

import torch

from adsynth.errors import ConfigError


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; validates ``cuda[:i]``."""
    if isinstance(spec, torch.device):
        return spec
    s = str(spec).strip().lower()
    if s == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if s == "cpu":
        return torch.device("cpu")
    if s == "cuda" or s.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} requested but CUDA is not available (use --device cpu)")
        dev = torch.device(s)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s)")
        return dev
    raise ConfigError(f"expected `device` to be auto, cpu, cuda or cuda:i, got {spec!r}")

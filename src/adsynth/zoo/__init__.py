"""zoo: anomaly detection methods, the generic trainer, checkpoints and prediction (imports torch).

Example:
    >>> from adsynth.zoo import create_model, load_models
    >>> load_models()
    >>> model = create_model("ae", image_size=64, channels=3)
    >>> model.config()["image_size"]
    64
"""

from __future__ import annotations

import pkgutil
from typing import Any

# Sub-packages of the zoo that hold shared parts, not methods. Every other sub-package is a method
# folder and must register at least one model (tests/zoo/test_discovery.py checks it).
SHARED_PACKAGES = ("components", "training")

_LOADED = False


def method_packages() -> list[str]:
    """Names of the method folders of the zoo (found on disk, not listed by hand)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg and m.name not in SHARED_PACKAGES)


def load_models() -> None:
    """Import every method package so that its model registers itself in ``MODELS`` (idempotent).

    An import error is raised, naming the package: a broken method is never silently missing.
    """
    global _LOADED
    if _LOADED:
        return
    from adsynth.registry import import_all

    import_all(__name__, method_packages(), "zoo method package")
    _LOADED = True


def model_hparams(name: str) -> dict[str, Any] | None:
    """The keyword parameters (with defaults) of model ``name``; None when it takes any ``**kwargs``."""
    from adsynth.zoo.base import MODELS

    load_models()
    return MODELS.params(name)


def create_model(name: str, **config: Any):
    """Build the model registered as ``name`` from a config (``model.config()`` or CLI hyper-parameters).

    Unknown hyper-parameters raise :class:`~adsynth.errors.ConfigError` naming the valid ones.
    """
    from adsynth.zoo.base import MODELS

    load_models()
    return MODELS.create(name, **config)


__all__ = ["SHARED_PACKAGES", "create_model", "load_models", "method_packages", "model_hparams"]

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

#: the package whose sub-packages are the method folders (``zoo/methods/<name>/``); everything else in the
#: zoo (components, training, deploy, the zoo-level modules) is infrastructure and lives beside it
METHODS_PACKAGE = f"{__name__}.methods"

_LOADED = False


def method_packages() -> list[str]:
    """Names of the method folders of the zoo: everything in ``zoo/methods/`` (found on disk, not listed).

    Every entry counts, so a stray module there fails ``tests/zoo/test_discovery.py`` instead of being
    skipped.
    """
    from adsynth.zoo import methods

    return sorted(m.name for m in pkgutil.iter_modules(methods.__path__))


def load_models() -> None:
    """Import every method package so that its model registers itself in ``MODELS`` (idempotent).

    An import error is raised, naming the package: a broken method is never silently missing.
    """
    global _LOADED
    if _LOADED:
        return
    from adsynth.registry import import_all

    import_all(METHODS_PACKAGE, method_packages(), "zoo method package")
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


__all__ = ["METHODS_PACKAGE", "create_model", "load_models", "method_packages", "model_hparams"]

"""zoo: anomaly detection methods, the generic trainer, checkpoints and prediction (imports torch).

Example:
    >>> from adsynth.zoo import create_model, load_models
    >>> load_models()
    >>> model = create_model("ae", image_size=64, channels=3)
    >>> model.config()["image_size"]
    64
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from adsynth.errors import ConfigError

# One package per method; each registers its model on import. Packages written in parallel by other
# engineers may not exist yet in a checkout: a missing one is skipped, any other import error is raised.
METHOD_MODULES = (
    "ae",
    "vae",
    "draem",
    "cutpaste",
    "patchcore",
    "padim",
    "ganomaly",
    "fanogan",
    "ognet",
    "memae",
    "mnad",
    "ssl_ae",
    "draem_sspcab",
    "riad",
    "scadn",
    "intra",
    "smai",
)

_LOADED = False


def load_models() -> None:
    """Import every method package so that its model registers itself in ``MODELS`` (idempotent)."""
    global _LOADED
    if _LOADED:
        return
    for mod in METHOD_MODULES:
        full = f"adsynth.zoo.{mod}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as e:
            if e.name != full:
                raise
    _LOADED = True


def model_hparams(name: str) -> dict[str, Any] | None:
    """The keyword parameters (with defaults) of model ``name``; None when it takes any ``**kwargs``."""
    from adsynth.zoo.base import MODELS

    load_models()
    cls = MODELS.get(name)
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {
        k: (None if p.default is inspect.Parameter.empty else p.default)
        for k, p in params.items()
        if k != "self" and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def create_model(name: str, **config: Any):
    """Build the model registered as ``name`` from a config (``model.config()`` or CLI hyper-parameters).

    Unknown hyper-parameters raise :class:`~adsynth.errors.ConfigError` naming the valid ones.
    """
    from adsynth.zoo.base import MODELS

    load_models()
    cls = MODELS.get(name)
    accepted = model_hparams(name)
    if accepted is not None:
        bad = sorted(k for k in config if k not in accepted)
        if bad:
            raise ConfigError(
                f"model {name!r} has no hyper-parameter {bad[0]!r} (valid: {', '.join(sorted(accepted))})"
            )
    try:
        return cls(**config)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model {name!r}: {e}") from None


__all__ = ["METHOD_MODULES", "create_model", "load_models", "model_hparams"]

"""synth: pseudo-anomaly generators, named recipes and the dataset generation engine.

Importing this package imports albumentations (slow); the CLI imports it lazily.
"""

from __future__ import annotations

from typing import Any

from adsynth.synth.base import GENERATORS, Generator, ImagePool, SynthContext, SynthResult, register_generator

_LOADED = False


def generator_modules() -> list[str]:
    """Every module of :mod:`adsynth.synth` (found on disk); generator families register on import."""
    import pkgutil

    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.ispkg)


def load_generators() -> None:
    """Import every module of the package so that its generators register themselves (idempotent).

    An import error is raised, naming the module.
    """
    global _LOADED
    if _LOADED:
        return
    from adsynth.registry import import_all

    import_all(__name__, generator_modules(), "synth module")
    _LOADED = True


def create_generator(name: str, **kwargs: Any) -> Generator:
    """Build the generator registered as ``name`` with ``kwargs``."""
    load_generators()
    return GENERATORS.create(name, **kwargs)


__all__ = [
    "GENERATORS",
    "Generator",
    "ImagePool",
    "SynthContext",
    "SynthResult",
    "create_generator",
    "generator_modules",
    "load_generators",
    "register_generator",
]

"""synth: pseudo-anomaly generators, named recipes and the dataset generation engine.

Importing this package imports albumentations (slow); the CLI imports it lazily.
"""

from __future__ import annotations

from typing import Any

from adsynth.synth.base import GENERATORS, Generator, ImagePool, SynthContext, SynthResult, register_generator

# One module per generator family; each registers its generators on import.
GENERATOR_MODULES = ("noise", "erasure", "masks", "superpixel", "cutpaste", "poisson", "texture", "ognet")

_LOADED = False


def load_generators() -> None:
    """Import every generator module so that they register themselves (idempotent)."""
    global _LOADED
    if _LOADED:
        return
    import importlib

    for mod in GENERATOR_MODULES:
        importlib.import_module(f"adsynth.synth.{mod}")
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
    "load_generators",
    "register_generator",
]

"""FYD: coarse (phase-correlation) alignment, then per-position Gaussians of the features (``fyd``)."""

from adsynth.zoo.methods.fyd.model import FYD

__all__ = ["FYD"]

"""PaDiM: per-position Gaussians of pretrained CNN features (registered as ``padim``)."""

from adsynth.zoo.padim.model import PaDiM, mahalanobis

__all__ = ["PaDiM", "mahalanobis"]

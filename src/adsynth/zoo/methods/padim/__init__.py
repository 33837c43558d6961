"""PaDiM: per-position Gaussians of pretrained CNN features (registered as ``padim``)."""

from adsynth.zoo.components.features import mahalanobis
from adsynth.zoo.methods.padim.model import PaDiM

__all__ = ["PaDiM", "mahalanobis"]

"""PatchCore: coreset memory bank of locally aware patch features (registered as ``patchcore``)."""

from adsynth.zoo.coreset import greedy_coreset, nearest_distances
from adsynth.zoo.methods.patchcore.model import PatchCore

__all__ = ["PatchCore", "greedy_coreset", "nearest_distances"]

"""PatchCore: coreset memory bank of locally aware patch features (registered as ``patchcore``)."""

from adsynth.zoo.patchcore.model import PatchCore, greedy_coreset, nearest_distances

__all__ = ["PatchCore", "greedy_coreset", "nearest_distances"]

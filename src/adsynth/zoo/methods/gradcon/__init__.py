"""GradCon: an autoencoder with a gradient constraint, scored by reconstruction error and gradient
direction (Kwon et al., ECCV 2020)."""

from adsynth.zoo.methods.gradcon.model import GradCon

__all__ = ["GradCon"]

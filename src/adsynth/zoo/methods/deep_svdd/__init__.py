"""Deep SVDD: one-class hypersphere of a bias-free encoder, per patch (Ruff et al., ICML 2018)."""

from adsynth.zoo.methods.deep_svdd.model import DeepSVDD

__all__ = ["DeepSVDD"]

"""A contrario NFA maps of deep features (``a-contrario``)."""

from adsynth.zoo.methods.a_contrario.model import AContrario, log10_binomial_tail

__all__ = ["AContrario", "log10_binomial_tail"]

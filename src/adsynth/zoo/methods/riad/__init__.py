"""RIAD: U-Net inpainting of random grid-cell masks, scored by the multi-scale GMS difference."""

from adsynth.zoo.methods.riad.model import Riad

__all__ = ["Riad"]

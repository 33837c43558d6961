"""SPADE: kNN of normal images, then pixel correspondences to their feature pyramids (``spade``)."""

from adsynth.zoo.methods.spade.model import Spade

__all__ = ["Spade"]

"""FCDD: fully convolutional data description (Liznerski et al., ICLR 2021)."""

from adsynth.zoo.methods.fcdd.model import FCDD

__all__ = ["FCDD"]

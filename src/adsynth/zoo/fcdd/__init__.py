"""FCDD: fully convolutional data description (Liznerski et al., ICLR 2021)."""

from adsynth.zoo.fcdd.model import FCDD

__all__ = ["FCDD"]

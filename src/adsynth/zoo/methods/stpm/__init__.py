"""STPM (Wang et al., BMVC 2021): a student network regresses a frozen teacher's normalised features at
several levels (registered as ``stpm``)."""

from adsynth.zoo.methods.stpm.model import STPM

__all__ = ["STPM"]

"""DRAEM: reconstructive + discriminative U-Nets trained on online Perlin/texture pseudo-anomalies."""

from adsynth.zoo.methods.draem.model import Draem

__all__ = ["Draem"]

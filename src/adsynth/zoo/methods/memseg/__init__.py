"""MemSeg: memory of normal features, feature differences segmented by a decoder (``memseg``)."""

from adsynth.zoo.methods.memseg.model import MemSeg

__all__ = ["MemSeg"]

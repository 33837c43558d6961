"""MemSeg: memory of normal features, feature differences segmented by a decoder (``memseg``)."""

from adsynth.zoo.memseg.model import MemSeg

__all__ = ["MemSeg"]

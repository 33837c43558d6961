"""InTra: a transformer inpaints every patch from its window of neighbours; MSGMS difference map."""

from adsynth.zoo.methods.intra.model import Intra

__all__ = ["Intra"]

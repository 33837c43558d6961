"""InTra: a transformer inpaints every patch from its window of neighbours; MSGMS difference map."""

from adsynth.zoo.intra.model import Intra

__all__ = ["Intra"]

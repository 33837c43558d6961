"""arnet: restore the colour and orientation erased from an image; the restoration error is the map."""

from adsynth.zoo.methods.arnet.model import ARNet

__all__ = ["ARNet"]

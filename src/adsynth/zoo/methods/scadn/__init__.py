"""SCADN: dilated encoder-decoder inpainting of multi-scale stripe masks with a patch discriminator."""

from adsynth.zoo.methods.scadn.model import Scadn

__all__ = ["Scadn"]

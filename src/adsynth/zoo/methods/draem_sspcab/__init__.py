"""DRAEM + SSPCAB: DRAEM with a self-supervised predictive convolutional attentive block."""

from adsynth.zoo.methods.draem_sspcab.model import SSPCAB, DraemSSPCAB, MaskedConv2d

__all__ = ["SSPCAB", "DraemSSPCAB", "MaskedConv2d"]

"""CPC-AD: contrastive predictive coding on a grid of patches, scored by the patch-wise InfoNCE loss."""

from adsynth.zoo.methods.cpc.model import CPC

__all__ = ["CPC"]

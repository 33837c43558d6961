"""DeSTSeg (Zhang et al., CVPR 2023): a denoising student against a frozen teacher and a segmentation head
on their features, trained on synthetic anomalies (registered as ``destseg``)."""

from adsynth.zoo.methods.destseg.model import DeSTSeg

__all__ = ["DeSTSeg"]

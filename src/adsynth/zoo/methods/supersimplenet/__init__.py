"""SuperSimpleNet: upscaled frozen features, feature noise inside Perlin masks, a segmentation and a
classification head (registered as ``supersimplenet``)."""

from adsynth.zoo.methods.supersimplenet.model import SuperSimpleNet, synthesise

__all__ = ["SuperSimpleNet", "synthesise"]

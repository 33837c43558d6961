"""SimpleNet: a feature adaptor and a discriminator trained against Gaussian noise in feature space
(registered as ``simplenet``)."""

from adsynth.zoo.methods.simplenet.model import SimpleNet

__all__ = ["SimpleNet"]

"""GLASS: a feature adaptor and a discriminator trained against global anomalies (Gaussian noise and
gradient ascent in feature space) and local ones (any adsynth recipe in image space); registered as
``glass``."""

from adsynth.zoo.methods.glass.model import GLASS

__all__ = ["GLASS"]

"""ssl-ae: an autoencoder trained to restore synthetic defects, scored by its restoration difference."""

from adsynth.zoo.methods.ssl_ae.model import SelfSupervisedAE

__all__ = ["SelfSupervisedAE"]

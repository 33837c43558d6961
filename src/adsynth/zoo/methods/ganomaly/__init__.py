"""GANomaly: encoder-decoder-encoder generator and a DCGAN discriminator; score = latent difference."""

from adsynth.zoo.methods.ganomaly.model import Ganomaly

__all__ = ["Ganomaly"]

"""VAE: a variational autoencoder scored by the reconstruction error of the posterior mean."""

from adsynth.zoo.methods.vae.model import VariationalAutoEncoder

__all__ = ["VariationalAutoEncoder"]

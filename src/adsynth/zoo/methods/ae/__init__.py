"""AE-L2 / AE-SSIM: a convolutional autoencoder scored by its reconstruction error (Bergmann et al. 2019)."""

from adsynth.zoo.methods.ae.model import AutoEncoder

__all__ = ["AutoEncoder"]

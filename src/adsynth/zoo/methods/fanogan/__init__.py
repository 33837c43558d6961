"""f-AnoGAN: WGAN-GP, then an izi_f encoder with G and D frozen; score = image + κ·feature residual."""

from adsynth.zoo.methods.fanogan.model import FAnoGAN

__all__ = ["FAnoGAN"]

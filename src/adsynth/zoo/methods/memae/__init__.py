"""MemAE: a memory-augmented autoencoder scored by its reconstruction error (Gong et al. 2019)."""

from adsynth.zoo.methods.memae.model import MemAE

__all__ = ["MemAE"]

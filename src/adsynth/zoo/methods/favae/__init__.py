"""FAVAE (Dehaene & Eline, 2020): a VAE whose decoder's intermediate layers also reconstruct a frozen
pretrained network's features of the input (registered as ``favae``)."""

from adsynth.zoo.methods.favae.model import FAVAE

__all__ = ["FAVAE"]

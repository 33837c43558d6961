"""DifferNet (Rudolph et al., WACV 2021): an image-level normalising flow on multi-scale pooled features
of a frozen backbone (registered as ``differnet``)."""

from adsynth.zoo.methods.differnet.model import DifferNet

__all__ = ["DifferNet"]

"""CS-Flow (Rudolph et al., WACV 2022): a fully convolutional cross-scale normalising flow over three
levels of a frozen backbone (registered as ``csflow``)."""

from adsynth.zoo.methods.csflow.model import CSFlow

__all__ = ["CSFlow"]

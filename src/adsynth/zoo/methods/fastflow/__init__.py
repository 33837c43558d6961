"""FastFlow (Yu et al., 2021): a 2-D fully convolutional normalising flow per feature level of a frozen
backbone (registered as ``fastflow``)."""

from adsynth.zoo.methods.fastflow.model import FastFlow

__all__ = ["FastFlow"]

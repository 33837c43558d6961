"""Loss profiles: autoencoder reconstruction losses along training snapshots, scored by a Gaussian."""

from adsynth.zoo.methods.loss_profile.model import LossProfile

__all__ = ["LossProfile"]

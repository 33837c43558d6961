"""SimCLR as a local contrastive feature learner on normal images and synthetic defects."""

from adsynth.zoo.methods.simclr.model import SimCLR

__all__ = ["SimCLR"]

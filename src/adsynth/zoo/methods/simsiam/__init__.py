"""SimSiam as a local self-supervised feature learner on normal images and synthetic defects."""

from adsynth.zoo.methods.simsiam.model import SimSiam

__all__ = ["SimSiam"]

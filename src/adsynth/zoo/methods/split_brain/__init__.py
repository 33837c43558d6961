"""split-brain: two networks predict each other's half of the image; the cross-prediction error is the map."""

from adsynth.zoo.methods.split_brain.model import SplitBrain

__all__ = ["SplitBrain"]

"""CutPaste: self-supervised 3-way classifier + Gaussian density estimation (registered as ``cutpaste``)."""

from adsynth.zoo.methods.cutpaste.model import CutPaste, gde_fit, gde_score, ledoit_wolf

__all__ = ["CutPaste", "gde_fit", "gde_score", "ledoit_wolf"]

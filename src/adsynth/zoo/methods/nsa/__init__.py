"""NSA: natural synthetic anomalies, a U-Net regressing the defect map (Schlüter et al., ECCV 2022)."""

from adsynth.zoo.methods.nsa.model import NSA

__all__ = ["NSA"]

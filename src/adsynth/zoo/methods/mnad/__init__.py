"""MNAD: memory-guided normality, reconstruction variant (Park, Noh, Ham, CVPR 2020)."""

from adsynth.zoo.methods.mnad.model import (
    MNAD,
    compactness_loss,
    read_memory,
    separateness_loss,
    update_memory,
)

__all__ = ["MNAD", "compactness_loss", "read_memory", "separateness_loss", "update_memory"]

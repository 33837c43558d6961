"""Reverse distillation (Deng & Li, CVPR 2022): a one-class bottleneck and a student decoder that
reconstructs a frozen encoder's features (registered as ``reverse-distillation``)."""

from adsynth.zoo.methods.reverse_distillation.model import ReverseDistillation

__all__ = ["ReverseDistillation"]

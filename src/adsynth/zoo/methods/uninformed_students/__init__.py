"""Uninformed Students (Bergmann et al., CVPR 2020): an ensemble of from-scratch students per level
regresses a frozen pretrained teacher's descriptors (registered as ``uninformed-students``)."""

from adsynth.zoo.methods.uninformed_students.model import UninformedStudents

__all__ = ["UninformedStudents"]

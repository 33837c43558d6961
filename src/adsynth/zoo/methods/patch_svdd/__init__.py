"""Patch SVDD: self-supervised hierarchical patch embeddings, kNN map (Yi & Yoon, ACCV 2020)."""

from adsynth.zoo.methods.patch_svdd.model import PatchSVDD

__all__ = ["PatchSVDD"]

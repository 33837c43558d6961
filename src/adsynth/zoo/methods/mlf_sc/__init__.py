"""MLF-SC: sparse coding of multi-layer CNN features (``mlf-sc``)."""

from adsynth.zoo.methods.mlf_sc.model import MLFSC, learn_dictionary, omp

__all__ = ["MLFSC", "learn_dictionary", "omp"]

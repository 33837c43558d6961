"""CFLOW-AD (Gudovskiy et al., WACV 2022): conditional normalising flows on the feature vectors of a
frozen backbone, conditioned on a positional encoding (registered as ``cflow``)."""

from adsynth.zoo.methods.cflow.model import CFlow

__all__ = ["CFlow"]

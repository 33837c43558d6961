"""SOE: PaDiM with a semi-orthogonal embedding (``soe``)."""

from adsynth.zoo.methods.soe.model import SOE, default_rank

__all__ = ["SOE", "default_rank"]

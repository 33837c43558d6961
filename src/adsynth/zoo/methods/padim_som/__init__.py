"""PaDiM-SOM: self-organizing maps of PaDiM's embedding (``padim-som``)."""

from adsynth.zoo.methods.padim_som.model import PaDiMSOM, batch_som

__all__ = ["PaDiMSOM", "batch_som"]

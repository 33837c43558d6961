"""VT-ADL: transformer on bundled-feature patches, feature decoder, Gaussian mixture density (``vt-adl``)."""

from adsynth.zoo.methods.vt_adl.model import VTADL

__all__ = ["VTADL"]

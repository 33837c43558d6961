"""OE-SDN: an outlier-exposed style distillation network over an autoencoder (Chung et al., IEEE Access
2020)."""

from adsynth.zoo.methods.oe_sdn.model import OESDN

__all__ = ["OESDN"]

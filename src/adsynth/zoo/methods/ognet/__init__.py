"""OGNet (Old is Gold): adversarial reconstruction, then a discriminator fine-tuned on G_old's outputs
and averaged pseudo-anomalies; score = D's "bad" probability of G(x)."""

from adsynth.zoo.methods.ognet.model import OGNet

__all__ = ["OGNet"]

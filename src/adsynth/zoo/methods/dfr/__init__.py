"""DFR: deep feature reconstruction of regional multi-layer features (``dfr``)."""

from adsynth.zoo.methods.dfr.model import DFR, feature_cae, pca_dim

__all__ = ["DFR", "feature_cae", "pca_dim"]

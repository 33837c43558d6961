"""MKD (Salehi et al., CVPR 2021): a small cloner network learns a frozen pretrained source's features at
several levels; anomalies are where and how much it fails (registered as ``mkd``)."""

from adsynth.zoo.methods.mkd.model import MKD

__all__ = ["MKD"]

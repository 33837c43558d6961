"""SMAI: U-Net inpainting of hidden SLIC superpixels; every superpixel hidden once at inference."""

from adsynth.zoo.methods.smai.model import Smai, colour_superpixels, superpixel_mask_sets

__all__ = ["Smai", "colour_superpixels", "superpixel_mask_sets"]

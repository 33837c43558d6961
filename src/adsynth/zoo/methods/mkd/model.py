"""MKD, Multiresolution Knowledge Distillation (Salehi, Sadjadi, Baselizadeh, Rohban, Rabiee, CVPR 2021).

Source: the frozen pretrained backbone. Cloner: a thin VGG-like network trained from scratch on normal
images to reproduce the source's feature maps at several levels (MKD's "multiresolution" distillation),
with the reference code's loss per image: Σ_levels ``(1 − cos(ŝ, s)) + λ·mean (ŝ − s)²``, the cosine taken
between the whole flattened maps (:func:`~adsynth.zoo.components.cloner.value_direction_loss`).

Image score: the same loss over the deepest ``score_levels`` levels (the code trains on four VGG levels
and scores with the deepest three). Map: the gradient of that loss with respect to the input pixels,
absolute and summed over channels, Gaussian-blurred (σ = 4 px) and then opened with the 3×3 cross (the
code opens each thresholded map with it before counting pixels). ``anomaly_map="discrepancy"`` maps the
loss itself instead: per level and position ``(1 − cos_c(ŝ, s)) + λ·mean_c (ŝ − s)²``, upsampled
bilinearly, summed over the same levels and blurred (not in the paper; see the README for why).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from adsynth._validation import check_choice, check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.cloner import ClonerNet, grey_opening, input_gradient_map, value_direction_loss
from adsynth.zoo.components.distillation import FrozenBackboneModel, combine_maps


@register_model("mkd")
class MKD(FrozenBackboneModel):
    """Multiresolution knowledge distillation from a pretrained source to a smaller cloner.

    Args:
        image_size, channels: resolution and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the source (default bundled ImageNet
            EfficientNet-Lite0, levels 1-4 = strides 4, 8, 16, 32, where the paper reads VGG-16's
            block 2-5 max-pool outputs, the same strides).
        lamda: weight of the value (mean squared) term against the direction term (0.5, the code's
            MVTec setting).
        score_levels: the deepest levels that give the score and the map (3, as the code).
        width: channels of the cloner's inner convs (16, the code's smaller cloner).
        sigma: Gaussian blur of the gradient map in pixels (4).
        opening: open the blurred map with the 3×3 cross (True).
        anomaly_map: ``"gradient"`` (the paper's input-gradient map) or ``"discrepancy"`` (the
            per-position loss; no backward pass).
        cache_features: reuse each training image's source features across epochs.

    Example:
        >>> import torch
        >>> m = MKD(image_size=64, pretrained=False).eval()
        >>> p = m.predict(torch.rand(2, 3, 64, 64))
        >>> tuple(p.anomaly_map.shape), tuple(p.score.shape)
        ((2, 64, 64), (2,))
    """

    family = "distillation"
    paper = "Salehi et al., Multiresolution Knowledge Distillation for Anomaly Detection, CVPR 2021"
    default_epochs = 600
    default_batch_size = 64
    default_lr = 1e-3
    default_layers = (1, 2, 3, 4)
    caches_features = True

    def __init__(
        self,
        image_size: int = 128,
        channels: int = 3,
        lamda: float = 0.5,
        score_levels: int = 3,
        width: int = 16,
        sigma: float = 4.0,
        opening: bool = True,
        anomaly_map: str = "gradient",
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            lamda=check_range(lamda, 0.0, 1e6, "lamda"),
            score_levels=check_positive_int(score_levels, "score_levels"),
            width=check_positive_int(width, "width"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            opening=bool(opening),
            anomaly_map=check_choice(anomaly_map, ("gradient", "discrepancy"), "anomaly_map"),
            **backbone_options,
        )
        if score_levels > len(self.feature_channels):
            raise ConfigError(
                f"expected `score_levels` <= the number of `layers` ({len(self.feature_channels)}), "
                f"got {score_levels}"
            )
        strides = self.feature_strides
        if strides != sorted(set(strides)) or any(s < 2 or s & (s - 1) for s in strides):
            raise ConfigError(
                f"expected `layers` with increasing power-of-two strides >= 2, got strides {strides}"
            )
        self.cloner = ClonerNet(self.channels, self.feature_channels, strides, width)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        return torch.optim.Adam(self.cloner.parameters(), lr=lr or self.default_lr), None

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The cloner's feature maps, one per level, shallowest first."""
        return self.cloner(images)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        source = self.train_features(batch)
        per_image = value_direction_loss(self.cloner(batch["image"]), source, self._hparams["lamda"])
        return {"loss": per_image.mean()}

    def score_loss(self, images: torch.Tensor) -> torch.Tensor:
        """Per-image loss over the deepest ``score_levels`` levels, differentiable w.r.t. ``images``."""
        self.check_images(images, self.channels)
        self.backbone.eval()
        k = self._hparams["score_levels"]
        source = [f.float() for f in self.backbone(images)][-k:]
        return value_direction_loss(self.cloner(images)[-k:], source, self._hparams["lamda"])

    @torch.no_grad()
    def discrepancy(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-image loss, B×H×W per-position loss of the score levels summed, unsmoothed)."""
        k, lam = self._hparams["score_levels"], self._hparams["lamda"]
        source = self.features(images)[-k:]
        pred = [
            p if p.shape[-2:] == t.shape[-2:] else F.interpolate(p, size=t.shape[-2:], mode="bilinear")
            for p, t in zip(self.cloner(images)[-k:], source, strict=True)
        ]
        maps = [
            1.0 - F.cosine_similarity(p.float(), t, dim=1) + lam * (p.float() - t).pow(2).mean(1)
            for p, t in zip(pred, source, strict=True)
        ]
        amap = combine_maps(maps, tuple(images.shape[-2:]), "sum")
        return value_direction_loss(pred, source, lam), amap

    def predict(self, images: torch.Tensor) -> Prediction:
        if self._hparams["anomaly_map"] == "discrepancy":
            score, raw = self.discrepancy(images)
        else:
            score, raw = input_gradient_map(self.score_loss, images)
        amap = gaussian_blur2d(raw, self._hparams["sigma"])
        if self._hparams["opening"]:
            amap = grey_opening(amap)
        return Prediction(anomaly_map=amap.float(), score=score.float())

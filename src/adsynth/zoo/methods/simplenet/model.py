"""SimpleNet (Liu, Zhou, Wang, Wang, CVPR 2023): frozen features, a feature adaptor, and a discriminator
that tells adapted normal features from the same features plus Gaussian noise.

Training: the frozen backbone's levels 2 and 3 (strides 8 and 16) are averaged over 3×3 neighbourhoods,
brought to level 2's grid and concatenated (SimpleNet's local aggregation), standardised per channel
(:mod:`adsynth.zoo.components.synthetic_features`), passed through a one-layer linear adaptor; anomalous
features are the adapted ones plus N(0, σ²) noise; a two-layer MLP discriminator (per position) is
trained with the truncated L1 loss ``max(0, 0.5 − D(normal)) + max(0, 0.5 + D(noisy))``. Inference: the
map is −D of the adapted features, upsampled bilinearly and blurred; the image score is its maximum.
No image-space anomaly is ever made, so every epoch after the first runs on cached features.
"""

from __future__ import annotations

from typing import Any

import torch

from adsynth._validation import check_positive_int, check_range
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.synthetic_features import (
    Discriminator,
    SyntheticFeatureModel,
    feature_noise,
    linear_adaptor,
    truncated_l1,
)


@register_model("simplenet")
class SimpleNet(SyntheticFeatureModel):
    """SimpleNet on the bundled ImageNet EfficientNet-Lite0 (levels 2 + 3).

    Args:
        image_size, channels: as every model (grayscale is replicated for the ImageNet backbone).
        noise_std: σ of the feature noise, in units of the standardised features' per-channel standard
            deviation (the paper's 0.015 is absolute, on WRN-50's pooled features).
        hidden: width of the discriminator's hidden layer (1024).
        disc_layers: discriminator depth (2).
        margin: the truncated L1 loss's margin (0.5).
        adaptor_lr_ratio: the adaptor's learning rate as a fraction of the discriminator's (the paper's
            1e-4 against 2e-4).
        weight_decay: of both optimisers' parameter groups (1e-5).
        **options: ``patch``, ``upscale``, ``cache_mb``, ``sigma``, ``seed`` and the backbone options of
            :class:`~adsynth.zoo.components.synthetic_features.SyntheticFeatureModel`.

    Example:
        >>> import torch
        >>> m = SimpleNet(image_size=32, pretrained=False, hidden=8).eval()
        >>> m.predict(torch.rand(1, 3, 32, 32)).anomaly_map.shape
        torch.Size([1, 32, 32])
    """

    paper = "Liu et al., SimpleNet: A Simple Network for Image Anomaly Detection and Localization, CVPR 2023"
    default_epochs = 10  # about 5 CPU-minutes on magnetic tile at 128 px (752 images)
    default_batch_size = 16
    default_lr = 2e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        noise_std: float = 0.5,
        hidden: int = 1024,
        disc_layers: int = 2,
        margin: float = 0.5,
        adaptor_lr_ratio: float = 0.5,
        weight_decay: float = 1e-5,
        **options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            noise_std=check_range(noise_std, 0.0, 1e3, "noise_std"),
            hidden=check_positive_int(hidden, "hidden"),
            disc_layers=check_positive_int(disc_layers, "disc_layers"),
            margin=check_range(margin, 0.0, 1e3, "margin"),
            adaptor_lr_ratio=check_range(adaptor_lr_ratio, 0.0, 1e3, "adaptor_lr_ratio"),
            weight_decay=check_range(weight_decay, 0.0, 1.0, "weight_decay"),
            **options,
        )
        d = self.embed_dim
        self.adaptor = linear_adaptor(d)
        self.discriminator = Discriminator(d, hidden, disc_layers)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        hp = self._hparams
        lr = lr or self.default_lr
        opt = torch.optim.Adam(
            [
                {"params": self.adaptor.parameters(), "lr": lr * hp["adaptor_lr_ratio"]},
                {"params": self.discriminator.parameters(), "lr": lr},
            ],
            weight_decay=hp["weight_decay"],
        )
        return opt, None

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = self.train_embed(batch)
        feats = self.adaptor(x)
        noise = feature_noise(feats.shape, self._hparams["noise_std"], self.step_generator(), feats.device)
        self.step += 1
        scores = self.discriminator(torch.cat([feats, feats + noise]))
        normal, noisy = scores.chunk(2)
        loss = truncated_l1(normal, noisy, self._hparams["margin"])
        m = self._hparams["margin"]
        return {
            "loss": loss,
            "p_true": (normal.detach() >= m).float().mean(),
            "p_fake": (noisy.detach() < -m).float().mean(),
        }

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        scores = -self.discriminator(self.adaptor(self.embed(images)))
        amap = self.finish(scores, images.shape[-2:])
        return Prediction(anomaly_map=amap, score=amap.flatten(1).amax(1))

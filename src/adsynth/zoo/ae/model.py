"""AE-L2 / AE-SSIM: the convolutional autoencoder of Bergmann et al. (VISAPP 2019) scored by its
reconstruction error, at any power-of-two input size.

The network is :mod:`adsynth.zoo.components.bergmann` (at 128×128 the paper's encoder and its mirror
decoder, shared with ``vae``); the loss is L2, 1 − SSIM or both, the map the squared residual or
1 − SSIM, the image score the maximum of the mean-filtered map.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from adsynth._validation import check_choice
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.bergmann import bergmann_decoder, bergmann_encoder
from adsynth.zoo.components.losses import RECONSTRUCTION_LOSSES, reconstruction_loss
from adsynth.zoo.components.maps import (
    RECONSTRUCTION_MAPS,
    default_kernel,
    max_of_smoothed,
    reconstruction_map,
)


@register_model("ae")
class AutoEncoder(AnomalyModel):
    """Convolutional autoencoder (AE-L2 / AE-SSIM).

    Args:
        image_size: side of the square input, a power of two >= 32 (paper: 128).
        channels: 1 or 3.
        latent_dim: size of the bottleneck code (paper: 100).
        loss: ``"l2"``, ``"ssim"`` or ``"l2+ssim"`` (sum of both terms).
        anomaly_map: ``"l2"`` (squared residual) or ``"ssim"`` (``1 − SSIM``); default: ``"ssim"``
            when the loss is ``"ssim"``, else ``"l2"``.
        score_kernel: mean-filter size applied to the map before taking its maximum as the image
            score; default about 1/16 of the image side.

    Example:
        >>> import torch
        >>> m = AutoEncoder(image_size=64).eval()
        >>> m.predict(torch.rand(2, 3, 64, 64)).anomaly_map.shape
        torch.Size([2, 64, 64])
    """

    family: ClassVar[str] = "reconstruction"
    paper: ClassVar[str] = "Bergmann et al., VISAPP 2019 (AE-SSIM / AE-L2)"
    needs_pretrained: ClassVar[bool] = False
    fit_mode: ClassVar[str] = "gradient"
    default_epochs: ClassVar[int] = 100
    default_batch_size: ClassVar[int] = 32
    default_lr: ClassVar[float] = 2e-4

    def __init__(
        self,
        image_size: int = 128,
        channels: int = 3,
        latent_dim: int = 100,
        loss: str = "l2",
        anomaly_map: str | None = None,
        score_kernel: int | None = None,
    ) -> None:
        check_choice(loss, RECONSTRUCTION_LOSSES, "loss")
        anomaly_map = anomaly_map or ("ssim" if loss == "ssim" else "l2")
        check_choice(anomaly_map, RECONSTRUCTION_MAPS, "anomaly_map")
        if int(latent_dim) < 1:
            raise ConfigError(f"expected `latent_dim` to be a positive int, got {latent_dim}")
        super().__init__(
            image_size,
            channels,
            latent_dim=int(latent_dim),
            loss=loss,
            anomaly_map=anomaly_map,
            score_kernel=score_kernel,
        )
        self.loss_kind = loss
        self.map_kind = anomaly_map
        self.score_kernel = int(score_kernel) if score_kernel else default_kernel(self.image_size)
        self.encoder = bergmann_encoder(self.channels, self.image_size, int(latent_dim))
        self.decoder = bergmann_decoder(self.channels, self.image_size, int(latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        # Bergmann et al. train with Adam at 2e-4 and weight decay 1e-5.
        opt = torch.optim.Adam(self.parameters(), lr=lr or self.default_lr, weight_decay=1e-5)
        return opt, None

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        terms = reconstruction_loss(x, self(x), self.loss_kind)
        return {"loss": sum(terms.values()), **terms}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        amap = reconstruction_map(images, self(images), self.map_kind).float()
        return Prediction(anomaly_map=amap, score=max_of_smoothed(amap, self.score_kernel))

"""AE-L2 / AE-SSIM: the convolutional autoencoder of Bergmann et al. (VISAPP 2019) scored by its
reconstruction error, at any power-of-two input size.

The network is :mod:`adsynth.zoo.components.bergmann` (at 128×128 the paper's encoder and its mirror
decoder, shared with ``vae``); the loss is L2, 1 − SSIM or both, the map the squared residual or
1 − SSIM, the image score the maximum of the mean-filtered map.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from adsynth.zoo.base import register_model
from adsynth.zoo.components.bergmann import BergmannModel, bergmann_decoder, bergmann_encoder
from adsynth.zoo.components.losses import reconstruction_loss


@register_model("ae")
class AutoEncoder(BergmannModel):
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
        super().__init__(image_size, channels, latent_dim, loss, anomaly_map, score_kernel)
        self.encoder = bergmann_encoder(self.channels, self.image_size, int(latent_dim))
        self.decoder = bergmann_decoder(self.channels, self.image_size, int(latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        terms = reconstruction_loss(x, self(x), self.loss_kind)
        return {"loss": sum(terms.values()), **terms}

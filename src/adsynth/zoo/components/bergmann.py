"""The convolutional autoencoder of Bergmann et al. (VISAPP 2019), adapted to any power-of-two input size.

At 128×128 the encoder is the paper's: 4×4/2 (32), 4×4/2 (32), 3×3 (32), 4×4/2 (64), 3×3 (64),
4×4/2 (128), 3×3 (64), 3×3 (32), then an 8×8 valid convolution to the latent code (d = 100), with
LeakyReLU(0.2). Other sizes add or remove leading 4×4/2 (32) layers so that the last feature map is
always 8×8 (32 px: none of them, 256 px: three). The decoder mirrors the encoder with transposed
convolutions and ends in a 3×3 convolution and a sigmoid (images are in [0, 1]).

:class:`BergmannModel` is what ``ae`` and ``vae`` share around the networks: the loss / map / score
options, the optimiser and the prediction.

Example:
    >>> import torch
    >>> enc, dec = bergmann_encoder(3, 64, 10), bergmann_decoder(3, 64, 10)
    >>> dec(enc(torch.rand(1, 3, 64, 64))).shape
    torch.Size([1, 3, 64, 64])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from adsynth._validation import check_choice
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction
from adsynth.zoo.components.losses import RECONSTRUCTION_LOSSES
from adsynth.zoo.components.maps import (
    RECONSTRUCTION_MAPS,
    default_kernel,
    max_of_smoothed,
    reconstruction_map,
)

__all__ = ["BergmannModel", "bergmann_decoder", "bergmann_encoder", "check_bergmann_size"]


def check_bergmann_size(image_size: int, minimum: int = 32) -> int:
    """Number of stride-2 stages taking ``image_size`` down to 8; sizes must be powers of two ≥ 32."""
    n = math.log2(image_size / 8) if image_size > 0 else -1
    if image_size < minimum or n != int(n):
        raise ConfigError(f"expected `image_size` to be a power of two >= {minimum}, got {image_size}")
    return int(n)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def bergmann_encoder(channels: int, image_size: int, out_dim: int) -> nn.Sequential:
    """Encoder from ``channels``×S×S to ``out_dim``×1×1."""
    n = check_bergmann_size(image_size)
    layers: list[nn.Module] = []
    c = channels
    for _ in range(n - 2):
        layers += [nn.Conv2d(c, 32, 4, 2, 1), _act()]
        c = 32
    for cout, k, s in ((32, 3, 1), (64, 4, 2), (64, 3, 1), (128, 4, 2), (64, 3, 1), (32, 3, 1)):
        layers += [nn.Conv2d(c, cout, k, s, 1), _act()]
        c = cout
    layers.append(nn.Conv2d(c, out_dim, 8, 1, 0))
    return nn.Sequential(*layers)


def bergmann_decoder(channels: int, image_size: int, latent_dim: int) -> nn.Sequential:
    """Decoder from ``latent_dim``×1×1 back to ``channels``×S×S in [0, 1] (mirror of the encoder)."""
    n = check_bergmann_size(image_size)
    layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, 32, 8, 1, 0), _act()]
    c = 32
    for cout, k, s in ((64, 3, 1), (128, 3, 1), (64, 4, 2), (64, 3, 1), (32, 4, 2), (32, 3, 1)):
        conv = nn.ConvTranspose2d(c, cout, k, s, 1) if s == 2 else nn.Conv2d(c, cout, k, s, 1)
        layers += [conv, _act()]
        c = cout
    for _ in range(n - 2):
        layers += [nn.ConvTranspose2d(32, 32, 4, 2, 1), _act()]
    layers += [nn.Conv2d(32, channels, 3, 1, 1), nn.Sigmoid()]
    return nn.Sequential(*layers)


class BergmannModel(AnomalyModel):
    """Base of the autoencoders on the Bergmann et al. networks (``ae``, ``vae``), unregistered.

    Checks and stores the options, trains with Adam (weight decay 1e-5, as Bergmann et al.) and predicts
    the reconstruction map of ``self(images)`` with the maximum of the mean-filtered map as the score.
    A subclass builds ``encoder`` / ``decoder``, defines ``forward`` (the deterministic reconstruction)
    and ``training_step``.

    Args:
        image_size, channels, latent_dim, loss, anomaly_map, score_kernel: as documented by ``ae``
            (:class:`adsynth.zoo.methods.ae.AutoEncoder`); ``anomaly_map=None`` follows ``loss``.
        **hparams: the subclass's own hyper-parameters, stored after ``latent_dim``.
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        latent_dim: int,
        loss: str,
        anomaly_map: str | None,
        score_kernel: int | None,
        **hparams: Any,
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
            **hparams,
            loss=loss,
            anomaly_map=anomaly_map,
            score_kernel=score_kernel,
        )
        self.loss_kind = loss
        self.map_kind = anomaly_map
        self.score_kernel = int(score_kernel) if score_kernel else default_kernel(self.image_size)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        # Bergmann et al. train with Adam at 2e-4 and weight decay 1e-5.
        opt = torch.optim.Adam(self.parameters(), lr=lr or self.default_lr, weight_decay=1e-5)
        return opt, None

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        amap = reconstruction_map(images, self(images), self.map_kind).float()
        return Prediction(anomaly_map=amap, score=max_of_smoothed(amap, self.score_kernel))

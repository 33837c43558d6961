"""The convolutional autoencoder of Bergmann et al. (VISAPP 2019), adapted to any power-of-two input size.

At 128×128 the encoder is the paper's: 4×4/2 (32), 4×4/2 (32), 3×3 (32), 4×4/2 (64), 3×3 (64),
4×4/2 (128), 3×3 (64), 3×3 (32), then an 8×8 valid convolution to the latent code (d = 100), with
LeakyReLU(0.2). Other sizes add or remove leading 4×4/2 (32) layers so that the last feature map is
always 8×8 (32 px: none of them, 256 px: three). The decoder mirrors the encoder with transposed
convolutions and ends in a 3×3 convolution and a sigmoid (images are in [0, 1]).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.losses import ssim_loss, ssim_map

LOSSES = ("l2", "ssim", "l2+ssim")
MAPS = ("l2", "ssim")


def check_size(image_size: int, minimum: int = 32) -> int:
    """Number of stride-2 stages taking ``image_size`` down to 8; sizes must be powers of two ≥ 32."""
    n = math.log2(image_size / 8) if image_size > 0 else -1
    if image_size < minimum or n != int(n):
        raise ConfigError(f"expected `image_size` to be a power of two >= {minimum}, got {image_size}")
    return int(n)


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2, inplace=True)


def bergmann_encoder(channels: int, image_size: int, out_dim: int) -> nn.Sequential:
    """Encoder from ``channels``×S×S to ``out_dim``×1×1."""
    n = check_size(image_size)
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
    n = check_size(image_size)
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


def default_kernel(image_size: int) -> int:
    """Mean-filter size for the image score: about 1/16 of the side, odd (9 at 128, 17 at 256)."""
    return max(3, (image_size // 16) | 1)


def reconstruction_map(x: torch.Tensor, rec: torch.Tensor, kind: str) -> torch.Tensor:
    """B×H×W per-pixel error: squared residual averaged over channels, or ``1 − SSIM``."""
    if kind == "ssim":
        return 1.0 - ssim_map(rec, x)
    return (rec.float() - x.float()).pow(2).mean(dim=1)


def max_of_smoothed(amap: torch.Tensor, kernel: int) -> torch.Tensor:
    """Image score: the maximum of the map after a ``kernel``×``kernel`` mean filter (B scores)."""
    k = int(kernel)
    if k > 1:
        amap = F.avg_pool2d(amap[:, None], k, stride=1, padding=k // 2)[:, 0]
    return amap.flatten(1).amax(dim=1)


def reconstruction_loss(x: torch.Tensor, rec: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """The terms of an ``l2``, ``ssim`` or ``l2+ssim`` reconstruction loss (keys ``l2`` / ``ssim``)."""
    terms: dict[str, torch.Tensor] = {}
    if "l2" in kind:
        terms["l2"] = F.mse_loss(rec.float(), x.float())
    if "ssim" in kind:
        terms["ssim"] = ssim_loss(rec, x)
    return terms


def check_choice(value: str, name: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ConfigError(f"expected `{name}` to be one of {', '.join(valid)}, got {value!r}")
    return value


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
        check_choice(loss, "loss", LOSSES)
        anomaly_map = anomaly_map or ("ssim" if loss == "ssim" else "l2")
        check_choice(anomaly_map, "anomaly_map", MAPS)
        if channels not in (1, 3):
            raise ConfigError(f"expected `channels` to be 1 or 3, got {channels}")
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

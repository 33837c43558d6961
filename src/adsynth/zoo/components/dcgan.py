"""DCGAN building blocks of the GAN methods (GANomaly, f-AnoGAN, OGNet).

An encoder of Conv4×4/2 stages from C×S×S down to 4×4, its mirror decoder, the DCGAN initialisation and
the [0, 1] ↔ [−1, 1] conversions of the generators' Tanh range.

Example:
    >>> import torch
    >>> enc, dec = DCGANEncoder(3, 32, 8, 16, 64), DCGANDecoder(3, 32, 8, 16, 64)
    >>> dec(enc(to_signed(torch.rand(2, 3, 32, 32)))).shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from adsynth.errors import ConfigError

__all__ = [
    "DCGANDecoder",
    "DCGANEncoder",
    "check_gan_size",
    "dcgan_init",
    "dcgan_norm",
    "stage_widths",
    "to_signed",
    "to_unit",
]


def check_gan_size(image_size: int, minimum: int = 16) -> int:
    """Number of stride-2 stages from ``image_size`` down to 4; sizes must be powers of two ≥ 16."""
    n = math.log2(image_size / 4) if image_size > 0 else -1
    if image_size < minimum or n != int(n):
        raise ConfigError(f"expected `image_size` to be a power of two >= {minimum}, got {image_size}")
    return int(n)


def stage_widths(image_size: int, width: int, max_width: int) -> list[int]:
    """Channels after each stride-2 stage of a DCGAN encoder (S/2, S/4, ..., 4): doubling, capped."""
    return [min(width * 2**k, max_width) for k in range(check_gan_size(image_size))]


def dcgan_norm(kind: str, channels: int) -> nn.Module:
    """``batch`` (DCGAN), ``layer`` (a WGAN-GP critic: layer norm over C×H×W) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class DCGANEncoder(nn.Module):
    """Conv4×4/2 stages from C×S×S to a K×4×4 feature map, then a 4×4 valid conv to ``out_dim``×1×1.

    The first stage has no normalisation (DCGAN); LeakyReLU(0.2) throughout. ``features(x)`` is the
    last 4×4 map (GANomaly's feature-matching and f-AnoGAN's discriminator features).
    """

    def __init__(
        self, channels: int, image_size: int, width: int, out_dim: int, max_width: int, norm: str = "batch"
    ) -> None:
        super().__init__()
        widths = stage_widths(image_size, width, max_width)
        layers: list[nn.Module] = []
        cin = channels
        for i, cout in enumerate(widths):
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(dcgan_norm(norm, cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, out_dim, 4, 1, 0, bias=False)
        self.feature_dim = cin * 16

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten(1)


class DCGANDecoder(nn.Module):
    """From a ``latent_dim`` code to C×S×S in [−1, 1]: a 4×4 transposed conv, ConvT4×4/2 stages with
    BatchNorm and ReLU mirroring :class:`DCGANEncoder`'s widths, and a Tanh."""

    def __init__(self, channels: int, image_size: int, width: int, latent_dim: int, max_width: int) -> None:
        super().__init__()
        widths = stage_widths(image_size, width, max_width)[::-1]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for cin, cout in zip(widths[:-1], widths[1:], strict=True):
            layers += [
                nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z.reshape(z.shape[0], -1, 1, 1))


def dcgan_init(m: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] to the generators' [−1, 1]."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [−1, 1] back to [0, 1]."""
    return (x + 1.0) * 0.5

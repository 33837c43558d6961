"""The convolutional autoencoder of Bergmann et al. (VISAPP 2019), adapted to any power-of-two input size.

At 128×128 the encoder is the paper's: 4×4/2 (32), 4×4/2 (32), 3×3 (32), 4×4/2 (64), 3×3 (64),
4×4/2 (128), 3×3 (64), 3×3 (32), then an 8×8 valid convolution to the latent code (d = 100), with
LeakyReLU(0.2). Other sizes add or remove leading 4×4/2 (32) layers so that the last feature map is
always 8×8 (32 px: none of them, 256 px: three). The decoder mirrors the encoder with transposed
convolutions and ends in a 3×3 convolution and a sigmoid (images are in [0, 1]). Used by ``ae`` and
``vae``.

Example:
    >>> import torch
    >>> enc, dec = bergmann_encoder(3, 64, 10), bergmann_decoder(3, 64, 10)
    >>> dec(enc(torch.rand(1, 3, 64, 64))).shape
    torch.Size([1, 3, 64, 64])
"""

from __future__ import annotations

import math

from torch import nn

from adsynth.errors import ConfigError

__all__ = ["bergmann_decoder", "bergmann_encoder", "check_bergmann_size"]


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

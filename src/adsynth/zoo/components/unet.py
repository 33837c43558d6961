"""The U-Net of the inpainting methods (RIAD, SMAI) and its size check.

Example:
    >>> import torch
    >>> net = UNet(in_channels=4, out_channels=3, width=4)
    >>> net(torch.rand(1, 4, 32, 32)).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

import torch
from torch import nn

from adsynth.errors import ConfigError

__all__ = ["UNet", "check_unet_size"]


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net: ``depth`` max-pool stages (widths w, 2w, …, 2^depth·w), transposed-conv ×2 upsampling,
    concatenated skips, sigmoid output (images are in [0, 1]). Sides must be multiples of ``2**depth``.
    """

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, depth: int = 4) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for cout in widths:
            self.down.append(_double_conv(cin, cout))
            cin = cout
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for cout in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(cin, cout, 2, stride=2))
            self.merge.append(_double_conv(2 * cout, cout))
            cin = cout
        self.head = nn.Conv2d(cin, out_channels, 1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.up, self.merge, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return torch.sigmoid(self.head(x))


def check_unet_size(image_size: int, depth: int = 4) -> None:
    """Raise a :class:`ConfigError` unless ``image_size`` is a positive multiple of ``2**depth``."""
    m = 2**depth
    if image_size < m or image_size % m:
        raise ConfigError(f"expected `image_size` to be a positive multiple of {m}, got {image_size}")

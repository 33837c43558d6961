"""DRAEM + SSPCAB (Ristea et al., CVPR 2022): DRAEM with a self-supervised predictive block in its encoder.

SSPCAB is a masked convolution, whose receptive field has four k'×k' corner regions around a hidden
centre, followed by channel attention (squeeze-and-excitation). The block is trained to predict its own
input, ``MSE(output, input)``, so the network learns to fill in a region from its surroundings, the
reconstruction idea built into one layer. Here it replaces the last block of DRAEM's reconstructive
encoder (the one at 1/16 resolution); everything else is DRAEM, built by the shared
:class:`~adsynth.zoo.components.draem.DraemModel` that ``draem`` registers too.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adsynth.errors import ConfigError
from adsynth.zoo.base import register_model
from adsynth.zoo.components.draem import DraemModel, draem_loss, init_weights


class MaskedConv2d(nn.Module):
    """SSPCAB's masked convolution: a (2k' + 2d + 1)² receptive field of which only the four k'×k' corners
    are visible; the centre, (2d + 1)² around each output position, never reaches that output.

    Computed as one k'×k' convolution over the four corner views of the zero-padded input stacked along
    the channels (a sum of four corner kernels, each with its own weights), so the hidden part of the
    receptive field costs neither parameters nor multiplications. Output shape = input shape.

    Args:
        channels: input and output channels.
        kernel_size: k', the side of each corner kernel.
        dilation: d, the gap between a corner kernel and the hidden centre pixel.

    Example:
        >>> MaskedConv2d(4, kernel_size=1, dilation=1)(torch.rand(1, 4, 6, 6)).shape
        torch.Size([1, 4, 6, 6])
    """

    def __init__(self, channels: int, kernel_size: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.kernel_size = int(kernel_size)
        self.dilation = int(dilation)
        self.conv = nn.Conv2d(4 * channels, channels, self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, d = self.kernel_size, self.dilation
        h, w = x.shape[-2:]
        padded = F.pad(x, (k + d,) * 4)
        far = k + 2 * d + 1  # offset of the bottom/right corner kernels in the padded input
        views = [padded[:, :, r : r + h + k - 1, c : c + w + k - 1] for r in (0, far) for c in (0, far)]
        return self.conv(torch.cat(views, dim=1))


class SqueezeExcitation(nn.Module):
    """Channel attention: global average pool, C → C/r → C with ReLU and sigmoid, rescale the channels."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


class SSPCAB(nn.Module):
    """Self-supervised predictive convolutional attentive block: ``SE(ReLU(masked_conv(x)))``, same shape.

    Args:
        channels: input and output channels.
        kernel_size: k', side of each corner region (paper: 1).
        dilation: d, distance between a corner region and the hidden centre (paper: 1).
        reduction: r of the squeeze-and-excitation (paper: 8).

    Example:
        >>> SSPCAB(16)(torch.rand(2, 16, 8, 8)).shape
        torch.Size([2, 16, 8, 8])
    """

    def __init__(self, channels: int, kernel_size: int = 1, dilation: int = 1, reduction: int = 8) -> None:
        super().__init__()
        self.conv = MaskedConv2d(channels, kernel_size, dilation)
        self.attention = SqueezeExcitation(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(F.relu(self.conv(x)))


@register_model("draem-sspcab")
class DraemSSPCAB(DraemModel):
    """DRAEM with SSPCAB replacing the last block of the reconstructive encoder.

    Args:
        image_size, channels, base_width, smooth_kernel, smooth_map, focal_gamma, rotate_prob: as
            ``draem`` (:class:`~adsynth.zoo.components.draem.DraemModel`).
        sspcab_kernel: k' (paper: 1).
        sspcab_dilation: d (paper: 1).
        sspcab_reduction: r of the channel attention (paper: 8).
        sspcab_weight: λ, weight of the block's self-supervised loss (paper: 0.1).

    Example:
        >>> m = DraemSSPCAB(image_size=64, base_width=8).eval()
        >>> m.predict(torch.rand(1, 3, 64, 64)).anomaly_map.shape
        torch.Size([1, 64, 64])
    """

    paper: ClassVar[str] = "Ristea et al., CVPR 2022 (SSPCAB) on DRAEM (Zavrtanik et al., ICCV 2021)"

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        base_width: int = 128,
        smooth_kernel: int = 21,
        smooth_map: bool = False,
        focal_gamma: float = 2.0,
        sspcab_kernel: int = 1,
        sspcab_dilation: int = 1,
        sspcab_reduction: int = 8,
        sspcab_weight: float = 0.1,
        rotate_prob: float = 0.3,
    ) -> None:
        for name, v in (
            ("sspcab_kernel", sspcab_kernel),
            ("sspcab_dilation", sspcab_dilation),
            ("sspcab_reduction", sspcab_reduction),
        ):
            if int(v) < 1:
                raise ConfigError(f"expected `{name}` to be a positive int, got {v}")
        if float(sspcab_weight) < 0:
            raise ConfigError(f"expected `sspcab_weight` to be >= 0, got {sspcab_weight}")
        super().__init__(
            image_size, channels, base_width, smooth_kernel, smooth_map, focal_gamma, rotate_prob
        )
        self._hparams.update(
            sspcab_kernel=int(sspcab_kernel),
            sspcab_dilation=int(sspcab_dilation),
            sspcab_reduction=int(sspcab_reduction),
            sspcab_weight=float(sspcab_weight),
        )
        self.sspcab_weight = float(sspcab_weight)
        encoder = self.reconstructive.encoder
        block = SSPCAB(8 * int(base_width), int(sspcab_kernel), int(sspcab_dilation), int(sspcab_reduction))
        block.apply(init_weights)
        encoder[len(encoder) - 1] = block

    @property
    def sspcab(self) -> SSPCAB:
        """The block inside the reconstructive encoder."""
        return self.reconstructive.encoder[-1]

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["aug_image"]
        encoder = self.reconstructive.encoder
        block_in = encoder[:-1](x)
        block_out = encoder[-1](block_in)
        rec = self.reconstructive.decoder(block_out)
        logits = self.discriminative(torch.cat([rec, x], dim=1))
        terms = draem_loss(rec, batch["image"], logits, batch["aug_mask"], gamma=self.focal_gamma)
        # Both sides keep their gradient, as in the reference integration: the block learns to predict
        # its input and the encoder learns features that the block can predict.
        sspcab = F.mse_loss(block_out.float(), block_in.float())
        return {**terms, "loss": terms["loss"] + self.sspcab_weight * sspcab, "sspcab": sspcab}

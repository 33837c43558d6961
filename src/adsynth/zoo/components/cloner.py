"""Parts of the distillation methods whose trainable network is not the backbone's architecture: a thin
VGG-style *cloner* of a frozen source network (MKD), the value + direction distillation loss, maps made
from the gradient of a loss with respect to the input, and the morphological opening of maps.

* :class:`ClonerNet`: VGG-16-shaped blocks (2, 2, 3, 3, 3 convs, each block ending in a 2×2 max-pool)
  of ``width`` channels; the last conv of a block whose output stride is one of the source's levels
  maps to that level's channels (linear: the source's features may be negative) and is read out there.
* :func:`value_direction_loss`: per image, Σ_levels ``(1 − cos(flat ŝ, flat s)) + λ·mean (ŝ − s)²``.
* :func:`input_gradient_map`: a per-image loss and ``Σ_c |∂loss/∂x|`` in one batched backward pass,
  also under ``torch.inference_mode`` (prediction runs there).
* :func:`grey_opening`: grey-level opening with the 3×3 cross; thresholding it at any level equals
  the binary opening of the thresholded map (a flat structuring element commutes with thresholds).

Example:
    >>> import torch
    >>> s = [torch.randn(2, 4, 3, 3)]
    >>> value_direction_loss([3.0 * s[0]], s, lam=0.0).abs().max() < 1e-6
    tensor(True)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

#: Convs per block of VGG-16 (blocks 1-5); deeper blocks, if a level needs them, have 3.
VGG16_DEPTHS = (2, 2, 3, 3, 3)


class ClonerNet(nn.Module):
    """A thin VGG-like network whose block outputs imitate a source network's feature levels.

    Args:
        in_channels: image channels.
        level_channels: channels of each source level to imitate.
        level_strides: their strides (powers of two >= 2, increasing).
        width: channels of the inner convs (MKD's smaller cloner: 16).

    ``forward`` returns one map per level (B×C_l×H/s_l×W/s_l for inputs divisible by the strides).
    """

    def __init__(
        self, in_channels: int, level_channels: Sequence[int], level_strides: Sequence[int], width: int = 16
    ) -> None:
        super().__init__()
        strides = [int(s) for s in level_strides]
        if any(s < 2 or s & (s - 1) for s in strides) or strides != sorted(set(strides)):
            raise ValueError(f"ClonerNet: expected increasing power-of-two strides >= 2, got {strides}")
        out_of = dict(zip(strides, level_channels, strict=True))
        self.blocks = nn.ModuleList()
        self.taps: list[bool] = []
        c, stride, b = in_channels, 1, 0
        while stride < strides[-1]:
            stride *= 2
            depth = VGG16_DEPTHS[b] if b < len(VGG16_DEPTHS) else 3
            layers: list[nn.Module] = []
            for i in range(depth):
                last = i == depth - 1 and stride in out_of
                cout = out_of[stride] if last else width
                layers.append(nn.Conv2d(c, cout, 3, 1, 1, bias=last))
                if not last:
                    layers += [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
                c = cout
            layers.append(nn.MaxPool2d(2, 2))
            self.blocks.append(nn.Sequential(*layers))
            self.taps.append(stride in out_of)
            b += 1

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for block, tap in zip(self.blocks, self.taps, strict=True):
            x = block(x)
            if tap:
                out.append(x)
                x = F.relu(x)
        return out


def value_direction_loss(
    pred: Sequence[torch.Tensor], target: Sequence[torch.Tensor], lam: float
) -> torch.Tensor:
    """MKD's distillation loss per image (B values), summed over levels.

    Direction: ``1 − cos`` between the whole flattened feature maps of an image; value: the mean squared
    difference over channels and positions, weighted by ``lam``. A level of ``pred`` whose size differs
    from ``target`` is resized bilinearly first.
    """
    total = torch.zeros(len(target[0]), device=target[0].device)
    for p, t in zip(pred, target, strict=True):
        p, t = p.float(), t.float()
        if p.shape[-2:] != t.shape[-2:]:
            p = F.interpolate(p, size=t.shape[-2:], mode="bilinear", align_corners=False)
        direction = 1.0 - F.cosine_similarity(p.flatten(1), t.flatten(1), dim=1)
        total = total + direction + lam * (p - t).pow(2).flatten(1).mean(1)
    return total


def input_gradient_map(
    loss_fn: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(``loss_fn(images)`` detached, B×H×W ``Σ_c |∂loss_b/∂x_b|``).

    ``loss_fn`` maps B×C×H×W images to B per-image losses that depend on their own image only (networks
    in eval mode), so one backward pass of their sum gives every image's gradient. Gradients are taken
    with respect to the input only; parameters get no ``.grad``.
    """
    with torch.inference_mode(False), torch.enable_grad():
        x = images.detach().clone().requires_grad_(True)
        loss = loss_fn(x)
        (grad,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), grad.abs().sum(1)


def _cross(maps: torch.Tensor, reduce: Callable[..., torch.Tensor]) -> torch.Tensor:
    # Replicated borders: the border value is already in the neighbourhood, so it changes no min/max
    # (cv2's erosion/dilation ignore the outside the same way).
    p = F.pad(maps.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
    h, w = maps.shape[-2:]
    shifts = [p[:, 1 : h + 1, 1 : w + 1], p[:, :h, 1 : w + 1], p[:, 2:, 1 : w + 1]]
    shifts += [p[:, 1 : h + 1, :w], p[:, 1 : h + 1, 2:]]
    return reduce(torch.stack(shifts), dim=0).values


def grey_opening(maps: torch.Tensor) -> torch.Tensor:
    """Grey-level opening (erosion, then dilation) of B×H×W maps with the 3×3 cross (cv2's 3×3
    ``MORPH_ELLIPSE``): removes peaks narrower than the cross.

    Example:
        >>> m = torch.zeros(1, 5, 5)
        >>> m[0, 2, 2] = 1.0
        >>> float(grey_opening(m).max())
        0.0
    """
    return _cross(_cross(maps, torch.min), torch.max)

"""Attribute erasure and channel splits of the restoration proxy tasks (ARNet, split-brain).

* :func:`to_gray`: the luma of an image (ITU-R BT.601), the colour attribute erased;
* :func:`rotate_each`: a per-sample rotation by a multiple of 90° (square images rotate without loss);
* :func:`rgb_to_lab`: CIE L*a*b* (D65) of sRGB images in [0, 1];
* :func:`checkerboard`: a fixed split of the pixels into two complementary groups of square cells;
* :func:`masked_mse`: the mean squared error over the pixels of a mask.

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 8, 8)
    >>> to_gray(x).shape, rotate_each(x, torch.tensor([1, 3])).shape
    (torch.Size([2, 1, 8, 8]), torch.Size([2, 3, 8, 8]))
    >>> [round(v) for v in rgb_to_lab(torch.ones(1, 3, 1, 1)).flatten().tolist()]
    [100, 0, 0]
    >>> checkerboard(4, 4, 2).int().tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]
"""

from __future__ import annotations

import torch

__all__ = ["checkerboard", "masked_mse", "rgb_to_lab", "rotate_each", "to_gray"]

_LUMA = (0.299, 0.587, 0.114)
# sRGB (D65) → XYZ, and the D65 white point.
_RGB_TO_XYZ = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE = (0.950456, 1.0, 1.088754)


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """B×1×H×W luma of B×C×H×W images (BT.601 weights for C = 3; a gray image is returned as is)."""
    if x.shape[1] == 1:
        return x
    w = x.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def rotate_each(x: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """Rotate sample ``i`` of B×C×H×W (H = W) counter-clockwise by ``quarter_turns[i]`` × 90°."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"expected square images to rotate, got {tuple(x.shape[-2:])}")
    turns = [int(k) % 4 for k in quarter_turns.tolist()]
    if len(set(turns)) == 1:
        return _rot90(x, turns[0])
    return torch.stack([_rot90(xi, k) for xi, k in zip(x, turns, strict=True)])


def _rot90(x: torch.Tensor, k: int) -> torch.Tensor:
    """``torch.rot90(x, k, dims=(-2, -1))`` written as flips and a transpose (the same values), which
    export to ONNX where ``rot90`` has no operator."""
    if k == 1:
        return x.transpose(-2, -1).flip(-2)
    if k == 2:
        return x.flip(-2, -1)
    if k == 3:
        return x.transpose(-2, -1).flip(-1)
    return x


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """B×3×H×W CIE L*a*b* (D65; L in [0, 100], a and b about [−110, 110]) of sRGB images in [0, 1]."""
    x = x.float().clamp(0, 1)
    lin = torch.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", x.new_tensor(_RGB_TO_XYZ), lin)
    xyz = xyz / x.new_tensor(_WHITE).view(1, 3, 1, 1)
    eps = (6 / 29) ** 3
    f = torch.where(xyz > eps, xyz.clamp_min(eps) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    lum = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([lum, a, b], dim=1)


def checkerboard(height: int, width: int, cell: int, device=None) -> torch.Tensor:
    """H×W bool mask: True on the cells (``cell``×``cell`` px) whose row + column index is even; its
    complement is the other group."""
    rows = torch.arange(height, device=device) // cell
    cols = torch.arange(width, device=device) // cell
    return (rows[:, None] + cols[None, :]) % 2 == 0


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``(pred − target)²`` over the channels and the pixels where ``mask`` (H×W) is True."""
    err = (pred.float() - target.float()).pow(2).mean(dim=1)
    m = mask.to(err.dtype).expand_as(err)
    return (err * m).sum() / m.sum().clamp_min(1)

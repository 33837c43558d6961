"""The two smoothing filters of anomaly maps: a Gaussian blur and a box (mean) filter.

Every method that smooths a map uses one of these, so that "σ = 4" or "a 21 px mean filter" means the
same thing everywhere.

Example:
    >>> import torch
    >>> flat = torch.ones(1, 8, 8)
    >>> bool(gaussian_blur2d(flat, sigma=2.0).allclose(flat)), mean_filter2d(flat, 3).shape
    (True, torch.Size([1, 8, 8]))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["gaussian_blur2d", "mean_filter2d"]


def gaussian_blur2d(maps: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian blur of B×H×W maps, equal to ``scipy.ndimage.gaussian_filter(mode="mirror")``.

    The kernel radius is ``int(truncate·σ + 0.5)`` (scipy's). Maps smaller than the kernel use a
    shorter, re-normalised kernel along that side instead of failing. ``sigma <= 0`` returns ``maps``
    itself.

    Example:
        >>> peak = torch.zeros(1, 15, 15)
        >>> peak[0, 7, 7] = 1.0
        >>> round(float(gaussian_blur2d(peak, 1.0).sum()), 4)
        1.0
    """
    if sigma <= 0:
        return maps
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=maps.dtype, device=maps.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    out = maps.unsqueeze(1)
    h, w = maps.shape[-2:]
    # Reflect padding needs pad < size; tiny maps use a shorter kernel rather than failing.
    ry, rx = min(radius, h - 1), min(radius, w - 1)
    ky = kernel[radius - ry : radius + ry + 1]
    kx = kernel[radius - rx : radius + rx + 1]
    out = F.pad(out, (0, 0, ry, ry), mode="reflect") if ry else out
    out = F.conv2d(out, (ky / ky.sum()).view(1, 1, -1, 1))
    out = F.pad(out, (rx, rx, 0, 0), mode="reflect") if rx else out
    out = F.conv2d(out, (kx / kx.sum()).view(1, 1, 1, -1))
    return out.squeeze(1)


def mean_filter2d(maps: torch.Tensor, kernel: int, count_include_pad: bool = False) -> torch.Tensor:
    """``kernel``×``kernel`` mean filter of B×H×W maps, stride 1, zero padding of ``kernel // 2``.

    With ``count_include_pad=False`` a border pixel is the mean of the pixels inside the image; with
    True the padding counts as zeros (PyTorch's default, and DRAEM's and the AE paper's score filter).
    An odd ``kernel`` keeps the size; ``kernel <= 1`` returns ``maps`` itself.

    Example:
        >>> mean_filter2d(torch.ones(1, 4, 4), 3)[0, 0, 0].item()
        1.0
        >>> round(mean_filter2d(torch.ones(1, 4, 4), 3, count_include_pad=True)[0, 0, 0].item(), 4)
        0.4444
    """
    k = int(kernel)
    if k <= 1:
        return maps
    return F.avg_pool2d(maps[:, None], k, stride=1, padding=k // 2, count_include_pad=count_include_pad)[:, 0]

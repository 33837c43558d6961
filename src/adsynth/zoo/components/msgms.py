"""Multi-scale gradient magnitude similarity (MSGMS): the loss and difference map of RIAD and InTra.

Both images are turned grey (channel mean), blurred by a 3×3 median filter and differentiated with the
Prewitt kernels (divided by 3). The gradient magnitude similarity of two gradient magnitudes g₁, g₂ is
``GMS = (2·g₁·g₂ + c) / (g₁² + g₂² + c)`` with c = 0.0026; it is computed at the original scale and after
up to three 2×2 average poolings. The loss is the mean of ``1 − GMS`` over pixels and scales; the map is
``1 − GMS`` of every scale bilinearly upsampled to the input size and averaged over the scales.

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32)
    >>> float(msgms_loss(x, x))
    0.0
    >>> msgms_map(x, x).shape
    torch.Size([2, 32, 32])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["GMS_C", "gms", "msgms_loss", "msgms_map"]

GMS_C = 0.0026


def _median3(x: torch.Tensor) -> torch.Tensor:
    """3×3 median filter of a B×1×H×W tensor (edge pixels replicated)."""
    b, _, h, w = x.shape
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return p.unfold(2, 3, 1).unfold(3, 3, 1).reshape(b, 1, h, w, 9).median(dim=-1).values


def _gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    kx = torch.tensor([[1.0, 0.0, -1.0]] * 3, device=x.device, dtype=x.dtype) / 3.0
    k = torch.stack([kx, kx.t()])[:, None]
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k)
    # The epsilon keeps the square root differentiable where the gradient is exactly zero.
    return (g.pow(2).sum(dim=1, keepdim=True) + 1e-12).sqrt()


def gms(x: torch.Tensor, y: torch.Tensor, c: float = GMS_C) -> torch.Tensor:
    """Gradient magnitude similarity of two B×C×H×W images in [0, 1]: B×1×H×W, 1 where they agree."""
    gx = _gradient_magnitude(_median3(x.float().mean(dim=1, keepdim=True)))
    gy = _gradient_magnitude(_median3(y.float().mean(dim=1, keepdim=True)))
    return (2 * gx * gy + c) / (gx * gx + gy * gy + c)


def _scales(x: torch.Tensor, y: torch.Tensor, scales: int):
    for s in range(scales):
        if s:
            if min(x.shape[-2:]) < 2:
                return
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        yield 1.0 - gms(x, y)


def msgms_loss(x: torch.Tensor, y: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """Mean of ``1 − GMS`` over pixels and up to ``scales`` scales (fewer when the image gets below 2 px)."""
    terms = [d.mean() for d in _scales(x, y, scales)]
    return torch.stack(terms).mean()


def msgms_map(x: torch.Tensor, y: torch.Tensor, scales: int = 4) -> torch.Tensor:
    """B×H×W map of ``1 − GMS``, upsampled from each scale and averaged over the scales."""
    h, w = x.shape[-2:]
    maps = [
        F.interpolate(d, size=(h, w), mode="bilinear", align_corners=False) if d.shape[-2:] != (h, w) else d
        for d in _scales(x, y, scales)
    ]
    return torch.cat(maps, dim=1).mean(dim=1)

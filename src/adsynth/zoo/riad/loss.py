"""Multi-scale gradient magnitude similarity (MSGMS), RIAD's loss and difference map (METHODS §4.1).

Both images are turned grey (channel mean), blurred by a 3×3 median filter and differentiated with the
Prewitt kernels (divided by 3). The gradient magnitude similarity of two gradient magnitudes g₁, g₂ is
``GMS = (2·g₁·g₂ + c) / (g₁² + g₂² + c)`` with c = 0.0026; it is computed at the original scale and after
up to three 2×2 average poolings. The loss is the mean of ``1 − GMS`` over pixels and scales; the map is
``1 − GMS`` of every scale bilinearly upsampled to the input size and averaged over the scales.

Also here: the Gaussian smoothing of anomaly maps shared by the inpainting methods.

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32)
    >>> float(msgms_loss(x, x))
    0.0
    >>> msgms_map(x, x).shape
    torch.Size([2, 32, 32])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from adsynth.zoo.losses import ssim_loss

GMS_C = 0.0026

__all__ = ["GMS_C", "gaussian_smooth", "gms", "msgms_loss", "msgms_map", "riad_loss"]


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


def gaussian_smooth(amap: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian filter of a B×H×W map (reflected edges, kernel radius 4σ as in scipy)."""
    if sigma <= 0:
        return amap
    h, w = amap.shape[-2:]
    radius = max(1, min(int(math.ceil(4.0 * sigma)), h - 1, w - 1))
    t = torch.arange(-radius, radius + 1, device=amap.device, dtype=torch.float32)
    k = torch.exp(-(t * t) / (2 * sigma * sigma))
    k = k / k.sum()
    x = F.pad(amap[:, None].float(), (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    x = F.conv2d(x, k.view(1, 1, -1, 1))
    return x[:, 0]


def riad_loss(
    rec: torch.Tensor,
    target: torch.Tensor,
    l2_weight: float = 1.0,
    gms_weight: float = 1.0,
    ssim_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """``γ·MSE + α·MSGMS + β·(1 − SSIM)`` of the recombined inpainting (RIAD: α = β = γ = 1).

    Returns:
        ``loss`` and its terms ``l2``, ``msgms``, ``ssim``.
    """
    l2 = F.mse_loss(rec.float(), target.float())
    g = msgms_loss(rec, target)
    s = ssim_loss(rec, target)
    return {"loss": l2_weight * l2 + gms_weight * g + ssim_weight * s, "l2": l2, "msgms": g, "ssim": s}

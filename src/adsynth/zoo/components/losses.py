"""Losses and image similarity shared by the zoo methods: SSIM (map and loss), the focal loss and the
``l2`` / ``ssim`` / ``l2+ssim`` reconstruction terms.

SSIM follows Wang et al. 2004 with a Gaussian window of 11 pixels and σ = 1.5, the constants
C1 = (0.01·L)² and C2 = (0.03·L)² with L the data range (1 for images in [0, 1]); the window is applied
per channel with zero padding of half its size, so the SSIM map has the input's resolution.

Example:
    >>> import torch
    >>> from adsynth.zoo.components.losses import ssim, ssim_map
    >>> x = torch.rand(2, 3, 32, 32)
    >>> round(float(ssim(x, x)), 6)
    1.0
    >>> ssim_map(x, x).shape
    torch.Size([2, 32, 32])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "RECONSTRUCTION_LOSSES",
    "focal_loss",
    "gaussian_window",
    "reconstruction_loss",
    "ssim",
    "ssim_loss",
    "ssim_map",
]

RECONSTRUCTION_LOSSES = ("l2", "ssim", "l2+ssim")


def gaussian_window(size: int = 11, sigma: float = 1.5, device=None, dtype=torch.float32) -> torch.Tensor:
    """A normalised 2-D Gaussian kernel, shape size×size."""
    x = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def _ssim_per_channel(
    x: torch.Tensor, y: torch.Tensor, window: int, sigma: float, data_range: float
) -> torch.Tensor:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(
            f"expected two B×C×H×W tensors of the same shape, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    # SSIM's variance terms cancel badly in half precision: always compute it in float32.
    x, y = x.float(), y.float()
    c = x.shape[1]
    w = gaussian_window(window, sigma, x.device).expand(c, 1, window, window).contiguous()
    pad = window // 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, padding=pad, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x = blur(x * x) - mu_xx
    var_y = blur(y * y) - mu_yy
    cov = blur(x * y) - mu_xy
    c1 = (0.01 * data_range) ** 2
    c2 = (0.03 * data_range) ** 2
    return ((2 * mu_xy + c1) * (2 * cov + c2)) / ((mu_xx + mu_yy + c1) * (var_x + var_y + c2))


def ssim_map(
    x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5, data_range: float = 1.0
) -> torch.Tensor:
    """Per-pixel SSIM averaged over channels: B×H×W (1 where the images agree)."""
    return _ssim_per_channel(x, y, window, sigma, data_range).mean(dim=1)


def ssim(
    x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5, data_range: float = 1.0
) -> torch.Tensor:
    """Mean SSIM over the batch, channels and pixels (a scalar)."""
    return _ssim_per_channel(x, y, window, sigma, data_range).mean()


def ssim_loss(
    x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5, data_range: float = 1.0
) -> torch.Tensor:
    """``1 − SSIM``, the structural reconstruction loss of the AE-SSIM and DRAEM papers."""
    return 1.0 - ssim(x, y, window, sigma, data_range)


def focal_loss(
    probs: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    smooth: float = 1e-5,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) on class *probabilities*, as DRAEM applies it after a softmax.

    Args:
        probs: B×K×H×W probabilities (softmax over K).
        target: B×H×W (or B×1×H×W) integer class map in ``0..K−1``.
        gamma: focusing parameter.
        smooth: the one-hot target is clamped to ``[smooth, 1 − smooth]`` and ``smooth`` is added to
            ``p_t`` before the log, which keeps the loss finite for saturated probabilities.
        weight: optional B×H×W pixel weights (the mean is then weighted).

    Returns:
        The mean over pixels of ``−(1 − p_t)^γ · log p_t``.
    """
    if target.ndim == probs.ndim:
        target = target[:, 0]
    probs = probs.float()
    k = probs.shape[1]
    onehot = F.one_hot(target.long(), k).permute(0, 3, 1, 2).to(probs.dtype)
    onehot = onehot.clamp(smooth, 1.0 - smooth)
    pt = (onehot * probs).sum(dim=1) + smooth
    loss = -((1.0 - pt) ** gamma) * pt.log()
    if weight is None:
        return loss.mean()
    weight = weight.reshape(loss.shape).to(loss.dtype)
    return (loss * weight).sum() / weight.sum().clamp_min(1e-12)


def reconstruction_loss(x: torch.Tensor, rec: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """The terms of an ``l2``, ``ssim`` or ``l2+ssim`` reconstruction loss (keys ``l2`` / ``ssim``).

    Example:
        >>> x = torch.rand(1, 1, 16, 16)
        >>> sorted(reconstruction_loss(x, x, "l2+ssim"))
        ['l2', 'ssim']
    """
    terms: dict[str, torch.Tensor] = {}
    if "l2" in kind:
        terms["l2"] = F.mse_loss(rec.float(), x.float())
    if "ssim" in kind:
        terms["ssim"] = ssim_loss(rec, x)
    return terms

"""Shared parts of the one-class and self-supervised patch methods (FCDD, Deep SVDD, Patch SVDD, NSA, the
SSL feature learners).

* :func:`pseudo_huber`, :func:`hsc_loss`: FCDD's hypersphere-classifier loss on a heat map;
* :func:`receptive_upsample`: FCDD's upsampling of a low-resolution heat map by a transposed Gaussian;
* :func:`svdd_center`: the Deep SVDD centre with the ε trick;
* :func:`knn_distance`: chunked nearest-neighbour distances to a memory bank; :func:`sample_into_bank` and
  :class:`BankSample`: the bank as a streaming uniform sample of a fitting pass;
* :func:`patch_starts`, :func:`extract_patches`, :func:`distribute_scores`: dense patch grids, their crops
  and their scores spread back to pixels;
* :func:`logistic_intensity_target`: NSA's soft target map from a synthetic defect;
* :func:`freeze_early_layers`: freeze the stem and first stage of a timm backbone.

Example:
    >>> import torch
    >>> a = pseudo_huber(torch.zeros(2, 4, 4))
    >>> float(hsc_loss(a, torch.zeros(2, 4, 4)))
    0.0
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BankSample",
    "distribute_scores",
    "extract_patches",
    "freeze_early_layers",
    "hsc_loss",
    "knn_distance",
    "logistic_intensity_target",
    "patch_starts",
    "pseudo_huber",
    "receptive_upsample",
    "sample_into_bank",
    "svdd_center",
]


def pseudo_huber(x: torch.Tensor) -> torch.Tensor:
    """``sqrt(x² + 1) − 1``: FCDD's heat map of a network output (≥ 0, ≈ |x| for large |x|)."""
    return (x.float().square() + 1).sqrt() - 1


def hsc_loss(heat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """FCDD's pixel-wise hypersphere-classifier loss.

    Normal pixels are pulled to 0 (``heat``), anomalous pixels pushed away (``−log(1 − exp(−heat))``);
    a soft ``target`` in [0, 1] mixes the two.

    Args:
        heat: B×h×w pseudo-Huber heat map (≥ 0).
        target: B×h×w anomaly target in [0, 1] (same shape).
    """
    heat = heat.float()
    target = target.float()
    # −log(1 − e^{−a}) = −log(−expm1(−a)); clamped so that a → 0 on an anomalous pixel stays finite.
    away = -torch.log((-torch.expm1(-heat)).clamp_min(1e-6))
    return ((1 - target) * heat + target * away).mean()


def _gaussian_kernel(sigma: float, size: int, like: torch.Tensor) -> torch.Tensor:
    r = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def receptive_upsample(heat: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """Upsample a B×h×w heat map to ``size`` by a transposed convolution with a Gaussian kernel (FCDD).

    Each output cell spreads its value over its receptive field as a Gaussian of ``sigma`` pixels
    (stride = the network's stride); the result is divided by the upsampled map of ones so that a constant
    map stays constant up to the borders.

    Example:
        >>> receptive_upsample(torch.ones(1, 4, 4), (32, 32), 4.0).shape
        torch.Size([1, 32, 32])
    """
    b, h, w = heat.shape
    stride_y, stride_x = size[0] // h, size[1] // w
    if stride_y < 1 or stride_x < 1 or stride_y != stride_x or sigma <= 0:
        return F.interpolate(heat[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]
    s = stride_y
    k = max(s, 2 * math.ceil(3 * sigma) + 1)
    if (k - s) % 2:
        k += 1
    pad = (k - s) // 2
    kernel = _gaussian_kernel(float(sigma), k, heat.float())
    x = torch.cat([heat[:, None].float(), torch.ones_like(heat[:1, None], dtype=torch.float32)])
    up = F.conv_transpose2d(x, kernel, stride=s, padding=pad)
    up = up[..., : size[0], : size[1]]
    return (up[:b] / up[b:].clamp_min(1e-12))[:, 0]


@torch.no_grad()
def svdd_center(embeddings: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """Deep SVDD's centre: the mean of N×D embeddings, entries closer to 0 than ``eps`` set to ±``eps``
    (a centre coordinate at 0 would let a bias-free network reach it trivially)."""
    c = embeddings.float().mean(0)
    small = c.abs() < eps
    return torch.where(small & (c < 0), -eps, torch.where(small, eps, c))


@torch.no_grad()
def knn_distance(query: torch.Tensor, bank: torch.Tensor, k: int = 1, chunk: int = 4096) -> torch.Tensor:
    """Mean L2 distance of each row of ``query`` (N×D) to its ``k`` nearest rows of ``bank`` (M×D)."""
    k = min(int(k), bank.shape[0])
    out = []
    bank = bank.to(query.dtype)
    for q in query.split(chunk):
        d = torch.cdist(q, bank)
        out.append(d.topk(k, dim=1, largest=False).values.mean(1))
    return torch.cat(out) if out else query.new_zeros(0)


def sample_into_bank(
    kept: tuple[torch.Tensor, torch.Tensor] | None, emb: torch.Tensor, keys: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A streaming uniform sample without replacement: ``(embeddings, keys)`` so far plus this batch's
    rows ``emb`` with their random ``keys``, keeping the ``size`` rows of smallest key."""
    if kept is not None:
        emb, keys = torch.cat([kept[0], emb]), torch.cat([kept[1], keys])
    if len(keys) > size:
        keep = keys.topk(size, largest=False).indices
        emb, keys = emb[keep], keys[keep]
    return emb, keys


class BankSample:
    """The memory bank of a fitting pass: a uniform sample without replacement of at most ``size`` of the
    rows added, each batch's keys drawn from ``np.random.default_rng([seed, batch number])`` (LocalSSL
    learners, CPC).

    Example:
        >>> bank = BankSample(seed=0, size=3)
        >>> bank.add(torch.arange(10.0).view(5, 2))
        >>> bank.take("demo").shape
        torch.Size([3, 2])
    """

    def __init__(self, seed: int, size: int) -> None:
        self.seed, self.size = int(seed), int(size)
        self._kept: tuple[torch.Tensor, torch.Tensor] | None = None
        self._batches = 0

    def add(self, rows: torch.Tensor) -> None:
        """Offer this batch's N×D ``rows`` (kept on the device they are on)."""
        rng = np.random.default_rng([self.seed, self._batches])
        self._batches += 1
        keys = torch.from_numpy(rng.random(len(rows)))
        self._kept = sample_into_bank(self._kept, rows, keys, self.size)

    def take(self, who: str) -> torch.Tensor:
        """The sampled rows; the sample starts again empty. ``who`` names the model in the error raised
        when nothing was added."""
        if self._kept is None:
            raise RuntimeError(f"{who}: fit_end() called before any fit_batch()")
        rows = self._kept[0]
        self._kept, self._batches = None, 0
        return rows


def patch_starts(size: int, patch: int, stride: int) -> list[int]:
    """Top-left offsets of patches along one axis; the last one is aligned with the border."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def extract_patches(images: torch.Tensor, patch: int, rows: list[int], cols: list[int]) -> torch.Tensor:
    """(B·len(rows)·len(cols))×C×patch×patch crops at the given offsets, row-major per image."""
    b, c = images.shape[:2]
    dev = images.device
    r = (torch.tensor(rows, device=dev)[:, None] + torch.arange(patch, device=dev)).view(-1)
    q = (torch.tensor(cols, device=dev)[:, None] + torch.arange(patch, device=dev)).view(-1)
    crops = images[:, :, r][..., q].reshape(b, c, len(rows), patch, len(cols), patch)
    return crops.permute(0, 2, 4, 1, 3, 5).reshape(-1, c, patch, patch)


def distribute_scores(
    scores: torch.Tensor, rows: list[int], cols: list[int], patch: int, size: tuple[int, int]
) -> torch.Tensor:
    """B×H×W map: every pixel gets the mean score of the patches (B×len(rows)×len(cols)) covering it."""

    def cover(n: int, starts: list[int]) -> torch.Tensor:
        pos = torch.arange(n, device=scores.device)[:, None]
        s = torch.tensor(starts, device=scores.device)[None, :]
        return ((pos >= s) & (pos < s + patch)).to(scores.dtype)

    cr, cc = cover(size[0], rows), cover(size[1], cols)
    total = cr @ scores @ cc.T
    count = cr.sum(1, keepdim=True) * cc.sum(1)[None, :]
    return total / count.clamp_min(1)


def _median_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Median over a disk of ``radius`` pixels of a B×1×H×W map (reflect padding)."""
    k = 2 * radius + 1
    yy, xx = torch.meshgrid(torch.arange(k) - radius, torch.arange(k) - radius, indexing="ij")
    disk = ((yy**2 + xx**2) <= radius**2).view(-1).to(x.device)
    cols = F.unfold(F.pad(x, (radius,) * 4, mode="reflect"), k)  # B×k²×HW
    return cols[:, disk].median(dim=1).values.view_as(x)


@torch.no_grad()
def logistic_intensity_target(
    image: torch.Tensor, aug: torch.Tensor, mask: torch.Tensor, k: float, x0: float, radius: int | None = None
) -> torch.Tensor:
    """NSA's ``logistic-intensity`` label (METHODS §3.1): inside the defect mask, a logistic of the
    disk-median of the channel-mean absolute change (grey levels 0-255), ``1 / (1 + exp(−k (m − x0)))``.

    Args:
        image, aug: B×C×H×W normal and synthetic images in [0, 1].
        mask: B×1×H×W (or B×H×W) 0/1 defect mask.
        k, x0: the logistic's slope and midpoint (grey levels).
        radius: of the median's disk (None: NSA's 5 px at 256 px, scaled with the side).

    Returns:
        B×1×H×W soft target in [0, 1].
    """
    delta = (aug.float() - image.float()).abs().mean(1, keepdim=True) * 255
    m = (mask.float().view(delta.shape[0], 1, *delta.shape[-2:]) > 0.5).float()
    if radius is None:
        radius = max(1, round(5 * min(delta.shape[-2:]) / 256))
    # The median only matters inside the mask: filter the samples that have a defect.
    has = m.flatten(1).amax(1) > 0
    med = delta.clone()
    if has.any() and min(delta.shape[-2:]) > radius:
        med[has] = _median_filter(delta[has], radius)
    return m * torch.sigmoid(k * (med - x0))


def freeze_early_layers(body: nn.Module, module_name: str) -> None:
    """Freeze every parameter of a timm feature model registered up to and including module
    ``module_name`` (e.g. ``"blocks.1"`` or ``"layer1"``: the stem and the first stage)."""
    names = [n for n, _ in body.named_parameters()]
    if not any(n.startswith(module_name + ".") for n in names):
        raise ValueError(f"the backbone has no module {module_name!r}")
    seen = False
    for name, p in body.named_parameters():
        inside = name.startswith(module_name + ".")
        if seen and not inside:
            break
        p.requires_grad_(False)
        seen = seen or inside

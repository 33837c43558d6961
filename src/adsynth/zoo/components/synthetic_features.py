"""Shared parts of the methods that learn to tell normal from synthetic-anomaly *features* on a frozen
ImageNet backbone: SimpleNet (Liu et al., CVPR 2023), SuperSimpleNet (Rolih et al., ICPR 2024) and GLASS
(Chen et al., ECCV 2024).

* :class:`SyntheticFeatureModel`: the frozen backbone, SimpleNet's locally aggregated embedding (3×3
  average of every level, the coarser levels upsampled to the first one's grid, concatenated, optionally
  upscaled), a per-channel standardisation of that embedding, a memory-bounded cache of the normal
  training images' embeddings, a per-step random generator and the map finishing.
* :func:`feature_noise`: Gaussian noise in feature space, in units of the standardised features.
* :class:`Discriminator`: SimpleNet's MLP discriminator as 1×1 convolutions (per position).
* :func:`truncated_l1`: SimpleNet's truncated L1 loss; :func:`binary_focal_loss`.
* :func:`perlin_masks`: DRAEM/SuperSimpleNet Perlin masks at the feature grid (half of them empty).

**Why standardise.** The papers add N(0, σ²) with σ = 0.015 to WRN-50 features whose scale is set by
their own pooling; the bundled EfficientNet-Lite0's level-2/3 features have standard deviations of about
0.5-12 per channel (measured: see the methods' READMEs), so one absolute σ is meaningless across
backbones. The embedding is therefore standardised per channel with the mean and standard deviation of
all normal training images (buffers, saved in checkpoints), and noise levels are given in those units.

**Cache.** The backbone is frozen and deterministic, so the normal training images' embeddings are
computed once, before the first epoch (:meth:`SyntheticFeatureModel.on_train_start`, in row order and
fixed chunks, also when a run resumes, so a resumed run is bit-identical), and every epoch then trains
the heads only, while the bank stays under ``cache_mb``. Without the bank (``cache_mb=0``, a bank that
would not fit, tiled training) features are computed per batch; the two differ only by the rounding of
the backbone's batched convolutions (~1e-5).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.components.distillation import FrozenBackboneModel
from adsynth.zoo.components.features import finish_map
from adsynth.zoo.data import image_chunks

__all__ = [
    "Discriminator",
    "SyntheticFeatureModel",
    "binary_focal_loss",
    "feature_noise",
    "linear_adaptor",
    "perlin_masks",
    "truncated_l1",
]


class SyntheticFeatureModel(FrozenBackboneModel):
    """Base of the feature-space synthetic-anomaly methods (frozen backbone + trainable heads).

    Args:
        image_size, channels: as :class:`~adsynth.zoo.base.AnomalyModel`.
        patch: side of the local average that aggregates each level (SimpleNet's patch size 3).
        upscale: the embedding grid is upscaled bilinearly by this factor (SuperSimpleNet: 2).
        cache_mb: bound of the training-embedding cache in MiB (0: no cache).
        sigma: blur of the upsampled map in pixels (None: ``image_size / 64``, the papers' 4 px at 256).
        seed: seed of the per-step random generators (noise, masks).
        **backbone_options: the subclass's own hyper-parameters and the backbone options of
            :class:`~adsynth.zoo.components.backbone_model.BackboneModel` (``layers`` defaults to the
            strides-8/16 levels 2 and 3, as WRN-50's layer2 + layer3 in the papers).
    """

    family = "self-supervised"
    fit_mode = "gradient"
    needs_pretrained = True
    default_layers = (2, 3)
    #: The embedding bank of :meth:`on_train_start` replaces the per-batch ``cache_features`` option.
    caches_features = False

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        *,
        patch: int = 3,
        upscale: int = 1,
        cache_mb: int = 2048,
        sigma: float | None = None,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            patch=check_positive_int(patch, "patch"),
            upscale=check_positive_int(upscale, "upscale"),
            cache_mb=int(check_range(cache_mb, 0, 1 << 20, "cache_mb")),
            sigma=None if sigma is None else check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        if patch % 2 == 0:
            raise ConfigError(f"expected `patch` to be odd, got {patch}")
        self.embed_dim = sum(self.feature_channels)
        self.register_buffer("feat_mean", torch.zeros(self.embed_dim))
        self.register_buffer("feat_std", torch.ones(self.embed_dim))
        self.register_buffer("standardised", torch.zeros((), dtype=torch.bool))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self._bank: dict[int, torch.Tensor] = {}

    # ------------------------------------------------------------------ embedding
    def aggregate(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        """Levels → B×D×h×w. Without ``upscale`` (SimpleNet): each level averaged over ``patch``×``patch``
        neighbourhoods at its own resolution, brought to the first level's grid (bilinear) and
        concatenated. With ``upscale`` > 1 (SuperSimpleNet): every level first brought (bilinear) to
        ``upscale`` × the first level's grid, concatenated, then averaged."""
        p, up = self._hparams["patch"], self._hparams["upscale"]
        h, w = levels[0].shape[-2:]
        size = (h * up, w * up)

        def pool(f: torch.Tensor) -> torch.Tensor:
            return F.avg_pool2d(f, p, 1, p // 2, count_include_pad=False) if p > 1 else f

        def resize(f: torch.Tensor) -> torch.Tensor:
            if tuple(f.shape[-2:]) == size:
                return f
            return F.interpolate(f, size=size, mode="bilinear", align_corners=False)

        if up > 1:
            return pool(torch.cat([resize(f.float()) for f in levels], 1))
        return torch.cat([resize(pool(f.float())) for f in levels], 1)

    def raw_embed(self, images: torch.Tensor) -> torch.Tensor:
        """The aggregated, not yet standardised embedding of ``images`` (no graph)."""
        return self.aggregate(self.features(images))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Per-channel standardisation with the buffers (fixed from the normal training embeddings)."""
        return (x - self.feat_mean.view(1, -1, 1, 1)) / self.feat_std.view(1, -1, 1, 1)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Standardised B×D×h×w embedding of images in [0, 1]."""
        return self.standardise(self.raw_embed(images))

    @torch.no_grad()
    def on_train_start(self, dataset: Any) -> None:
        """One pass over the normal training images, in row order and fixed chunks: fixes the
        standardisation from all of them (unless a checkpoint already has) and keeps their embeddings
        as the bank while it stays under ``cache_mb`` (the values do not depend on the batches'
        composition, so a resumed run sees the same ones)."""
        self._bank = {}
        if getattr(dataset, "rotation", None) is not None:
            return  # rotated training images are new every epoch
        limit = self._hparams["cache_mb"] * (1 << 20)
        need_stats = not bool(self.standardised)
        if limit == 0 and not need_stats:
            return
        used = 0
        sums = None
        keep = limit > 0
        for indices, raw in self.normal_embeddings(dataset):
            if need_stats:
                sums = _channel_sums(raw, sums)
            used += raw.numel() * raw.element_size()
            keep = keep and used <= limit
            if keep:
                self._bank.update(zip(indices, raw, strict=True))
            elif self._bank:
                self._bank = {}
            if not keep and not need_stats:
                break
        if need_stats and sums is not None:
            self._set_standardisation(*sums)
        real = getattr(dataset, "real", None)
        if keep and self._bank and real is not None:  # the real defective photos too (not in the statistics)
            device = self.feat_mean.device
            for start in range(0, len(real), 32):
                items = [real.item(j) for j in range(start, min(start + 32, len(real)))]
                raw = self.raw_embed(torch.stack([it["image"] for it in items]).to(device))
                used += raw.numel() * raw.element_size()
                if used > limit:
                    self._bank = {}
                    break
                self._bank.update(zip([int(it["index"]) for it in items], raw, strict=True))

    @torch.no_grad()
    def normal_embeddings(self, dataset: Any, chunk: int = 32):
        """Yield ``(row indices, raw B×D×h×w embeddings)`` of ``dataset``'s images in row order and fixed
        chunks (values independent of any batch's composition)."""
        for indices, images in image_chunks(dataset, self.feat_mean.device, chunk):
            yield indices, self.raw_embed(images)

    def train_embed(self, batch: dict[str, torch.Tensor], key: str = "image") -> torch.Tensor:
        """Standardised embedding of a training batch's ``key`` images: the normal images' from the
        bank of :meth:`on_train_start` when it holds them all; otherwise computed (and, on the first
        batch of a run without a bank, fixing the standardisation)."""
        images = batch[key]
        bank = getattr(self, "_bank", {})
        keys = [int(i) for i in batch["index"]] if "index" in batch else []
        if key == "image" and keys and all(k in bank for k in keys):
            raw = torch.stack([bank[k] for k in keys]).to(images.device)
        else:
            raw = self.raw_embed(images)
        if not bool(self.standardised):
            self.fix_standardisation(raw)
        return self.standardise(raw)

    @torch.no_grad()
    def fix_standardisation(self, raw: torch.Tensor) -> None:
        """Set the per-channel mean and standard deviation from B×D×h×w raw embeddings (once)."""
        self._set_standardisation(*_channel_sums(raw))

    @torch.no_grad()
    def _set_standardisation(self, total: torch.Tensor, total_sq: torch.Tensor, n: int) -> None:
        mean = total / n
        var = (total_sq - n * mean.pow(2)) / max(n - 1, 1)
        self.feat_mean.copy_(mean.float())
        self.feat_std.copy_(var.clamp_min(1e-12).sqrt().clamp_min(1e-6).float())
        self.standardised.fill_(True)

    # ------------------------------------------------------------------ randomness
    def step_generator(self, device: torch.device | str = "cpu") -> torch.Generator:
        """A torch generator for this training step, from (seed, step): resume repeats it exactly."""
        seed = np.random.SeedSequence([self._hparams["seed"], int(self.step)]).generate_state(1)[0]
        return torch.Generator(device=device).manual_seed(int(seed))

    def step_rng(self) -> np.random.Generator:
        """A numpy generator for this training step, from (seed, step, 1)."""
        return np.random.default_rng([self._hparams["seed"], int(self.step), 1])

    # ------------------------------------------------------------------ maps
    def map_sigma(self) -> float:
        s = self._hparams["sigma"]
        return self.image_size / 64.0 if s is None else float(s)

    def finish(self, patch_scores: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """B×h×w scores → B×H×W map at the input size (:func:`~adsynth.zoo.components.features.finish_map`:
        bilinear, Gaussian blur)."""
        return finish_map(patch_scores, size, self.map_sigma())[0]


def _channel_sums(
    raw: torch.Tensor, sums: tuple[torch.Tensor, torch.Tensor, int] | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-channel float64 sums, sums of squares and count of B×D×h×w embeddings, added to ``sums``."""
    flat = raw.transpose(0, 1).reshape(raw.shape[1], -1).double().cpu()
    total, total_sq, n = flat.sum(1), flat.pow(2).sum(1), flat.shape[1]
    if sums is not None:
        total, total_sq, n = sums[0] + total, sums[1] + total_sq, sums[2] + n
    return total, total_sq, n


def linear_adaptor(dim: int) -> nn.Conv2d:
    """The feature adaptor of SimpleNet, SuperSimpleNet and GLASS: a per-position linear map (1×1
    convolution), Xavier-normal weights, zero bias."""
    adaptor = nn.Conv2d(dim, dim, 1)
    nn.init.xavier_normal_(adaptor.weight)
    nn.init.zeros_(adaptor.bias)
    return adaptor


def feature_noise(shape: Sequence[int], std: float, generator: torch.Generator, device=None) -> torch.Tensor:
    """N(0, std²) noise of ``shape`` drawn on the CPU from ``generator`` (device-independent bytes)."""
    return (torch.randn(tuple(shape), generator=generator) * std).to(device)


class Discriminator(nn.Module):
    """SimpleNet's discriminator as 1×1 convolutions: ``layers − 1`` blocks of (linear → BatchNorm →
    LeakyReLU(0.2)) of width ``hidden``, then a linear score; B×D×h×w → B×h×w (higher = more normal
    for SimpleNet's sign convention; each method reads it its own way)."""

    def __init__(self, dim: int, hidden: int = 1024, layers: int = 2) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        cin = dim
        for _ in range(layers - 1):
            blocks += [nn.Conv2d(cin, hidden, 1), nn.BatchNorm2d(hidden), nn.LeakyReLU(0.2)]
            cin = hidden
        blocks.append(nn.Conv2d(cin, 1, 1, bias=False))
        self.body = nn.Sequential(*blocks)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)[:, 0]


def truncated_l1(normal: torch.Tensor, anomalous: torch.Tensor, margin: float = 0.5) -> torch.Tensor:
    """SimpleNet's loss: ``mean(max(0, m − D(normal))) + mean(max(0, m + D(anomalous)))`` (either side
    may be empty)."""
    loss = normal.new_zeros(())
    if normal.numel():
        loss = loss + F.relu(margin - normal).mean()
    if anomalous.numel():
        loss = loss + F.relu(margin + anomalous).mean()
    return loss


def binary_focal_loss(
    logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float | None = None
) -> torch.Tensor:
    """Mean focal loss ``−α_t (1 − p_t)^γ log p_t`` of logits against a 0/1 target of the same shape."""
    target = target.to(logits.dtype)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p = torch.sigmoid(logits)
    pt = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - pt).pow(gamma)
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.mean()


def perlin_masks(
    n: int,
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    empty_fraction: float = 0.5,
    threshold: float = 0.5,
    max_scale_log2: int = 4,
) -> np.ndarray:
    """``n`` binary Perlin masks (n×h×w float32) at a feature grid, as SuperSimpleNet draws them:
    Perlin noise at lattice scales 2^U{0..max} per axis (capped at the grid), thresholded; a fraction
    ``empty_fraction`` of the masks is all zero (normal samples), and a drawn mask that came out empty
    is drawn again (up to 10 times) so that the anomalous fraction is kept."""
    from adsynth.synth.perlin import perlin_2d

    h, w = size
    out = np.zeros((n, h, w), np.float32)
    for i in range(n):
        if rng.random() < empty_fraction:
            continue
        for _ in range(10):
            ry = min(2 ** int(rng.integers(0, max_scale_log2 + 1)), max(1, h))
            rx = min(2 ** int(rng.integers(0, max_scale_log2 + 1)), max(1, w))
            m = perlin_2d((h, w), (ry, rx), rng) > threshold
            if m.any():
                out[i] = m
                break
    return out

"""Patch SVDD (Yi & Yoon, ACCV 2020): self-supervised hierarchical patch embeddings, nearest-neighbour map.

Encoders: a small fully convolutional encoder ``E_s`` whose receptive field is exactly a ``K/2`` patch
(3×3 convolutions without padding, LeakyReLU 0.1, 2×2 max-pooling, stride 4, tanh output of ``D``
channels), and the hierarchical encoder of ``K`` patches, ``E_b``: the embeddings of the four ``K/2``
quadrants, combined by a 2×2 convolution (written as a dilated convolution over ``E_s``'s map, so
that dense embeddings of every patch come from one pass over the image) and a 1×1 convolution.
Training at both scales: the 8-way relative-position task (a classifier on ``h(p1) − h(p2)`` of a patch
and one of its 8 neighbours, displaced by 3K/4 ± K/4), plus ``λ`` times SVDD' (``||h(p1) − h(p2)||²``
of two patches a few pixels apart). Fit: dense embeddings of the normal training images at each scale,
a uniform random sample of at most ``bank_size`` per scale kept as the memory (the paper keeps all).
Predict: per scale, the L2 distance of each patch to its nearest memory patch, spread to the pixels it
covers (mean over overlapping patches); the two maps are multiplied (the paper's choice); score = max.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.modes import eval_mode
from adsynth.zoo.components.oneclass import distribute_scores, knn_distance, sample_into_bank

#: The 8 neighbour directions of the relative-position task, (dy, dx).
DIRECTIONS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
STRIDE = 4


def _small_encoder(channels: int, patch: int, dim: int) -> nn.Sequential:
    """Receptive field exactly ``patch`` (16 or 32) pixels, stride 4, no padding."""
    act = nn.LeakyReLU(0.1)
    layers: list[nn.Module] = [nn.Conv2d(channels, 32, 3), act, nn.Conv2d(32, 64, 3), act, nn.MaxPool2d(2)]
    layers += [nn.Conv2d(64, 64, 3), act, nn.Conv2d(64, 128, 3), act, nn.MaxPool2d(2)]
    if patch == 32:
        layers += [nn.Conv2d(128, 128, 3), act, nn.Conv2d(128, 128, 3), act]
    layers += [nn.Conv2d(128, dim, 1), nn.Tanh()]
    return nn.Sequential(*layers)


class PositionClassifier(nn.Module):
    """8-way classifier of the relative position of two patches from the difference of their embeddings."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, 128), nn.LeakyReLU(0.1), nn.Linear(128, 128), nn.LeakyReLU(0.1), nn.Linear(128, 8)
        )

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        return self.net(h1 - h2)


@register_model("patch-svdd")
class PatchSVDD(AnomalyModel):
    """Patch SVDD at two scales (``patch_size`` and its half).

    Args:
        image_size: training/inference resolution (≥ ``patch_size``; below 3·``patch_size`` the
            neighbours of the position task are clipped to the image).
        channels: 1 or 3.
        patch_size: the large patch ``K``, 32 or 64 (None: 64 from 256 px up, else 32); the small is K/2.
        dim: embedding size ``D`` (64).
        svdd_weight: ``λ`` of the SVDD' loss (the reference README's 1e-3).
        pairs_per_image: training pairs drawn per image, task and scale.
        bank_size: memory patches kept per scale.
        seed: seed of the training patch positions and of the memory sample.

    Example:
        >>> m = PatchSVDD(image_size=64, bank_size=64).eval()
        >>> batch = {"image": torch.rand(2, 3, 64, 64)}
        >>> m.fit_batch(batch); m.fit_end()
        >>> m.predict(batch["image"]).anomaly_map.shape
        torch.Size([2, 64, 64])
    """

    family = "self-supervised"
    paper = "Yi & Yoon, Patch SVDD: Patch-level SVDD for Anomaly Detection and Segmentation, ACCV 2020"
    fit_mode = "both"
    default_epochs = 300
    default_batch_size = 64
    default_lr = 1e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        patch_size: int | None = None,
        dim: int = 64,
        svdd_weight: float = 1e-3,
        pairs_per_image: int = 1,
        bank_size: int = 65536,
        seed: int = 0,
    ) -> None:
        image_size = check_positive_int(image_size, "image_size")
        if patch_size is None:
            patch_size = 64 if image_size >= 256 else 32
        if patch_size not in (32, 64):
            raise ConfigError(f"expected `patch_size` to be 32 or 64, got {patch_size!r}")
        if image_size < patch_size:
            raise ConfigError(f"expected `image_size` >= {patch_size} for patch-svdd, got {image_size}")
        super().__init__(
            image_size,
            channels,
            patch_size=int(patch_size),
            dim=check_positive_int(dim, "dim"),
            svdd_weight=check_range(svdd_weight, 0.0, 1e3, "svdd_weight"),
            pairs_per_image=check_positive_int(pairs_per_image, "pairs_per_image"),
            bank_size=check_positive_int(bank_size, "bank_size"),
            seed=int(seed),
        )
        k, d = int(patch_size), int(dim)
        self.small = _small_encoder(self.channels, k // 2, d)
        dil = (k // 2) // STRIDE
        self.big = nn.Sequential(
            nn.Conv2d(d, 128, 2, dilation=dil), nn.LeakyReLU(0.1), nn.Conv2d(128, d, 1), nn.Tanh()
        )
        self.cls_small = PositionClassifier(d)
        self.cls_big = PositionClassifier(d)
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("bank_small", torch.empty(0, d))
        self.register_buffer("bank_big", torch.empty(0, d))
        self._fit: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._fit_count = 0

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        for name in ("bank_small", "bank_big"):
            if prefix + name in state_dict:
                self._buffers[name] = torch.empty_like(state_dict[prefix + name])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ network
    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * 2 - 1

    def dense(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense embeddings (B×D×h×w, stride 4) of every small and every large patch."""
        s = self.small(self._normalize(images))
        return s, self.big(s)

    def _embed(self, crops: torch.Tensor, scale: str) -> torch.Tensor:
        s = self.small(self._normalize(crops))
        return (s if scale == "small" else self.big(s)).flatten(1)

    # ------------------------------------------------------------------ training
    def _pairs(
        self, images: torch.Tensor, k: int, rng: np.random.Generator, position: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Crops p1, p2 (N×C×k×k) and the direction labels (position task) of random pairs."""
        b, _, h, w = images.shape
        n = b * self._hparams["pairs_per_image"]
        idx = np.repeat(np.arange(b), self._hparams["pairs_per_image"])
        if position:
            jit, disp = max(1, k // 4), (3 * k) // 4
            labels = rng.integers(0, 8, n)
            dirs = np.array(DIRECTIONS)[labels]
            lo, hi_y, hi_x = disp + jit, h - k - disp - jit, w - k - disp - jit
            y1 = rng.integers(lo, max(lo, hi_y) + 1, n)
            x1 = rng.integers(lo, max(lo, hi_x) + 1, n)
            y2 = y1 + dirs[:, 0] * disp + rng.integers(-jit, jit + 1, n)
            x2 = x1 + dirs[:, 1] * disp + rng.integers(-jit, jit + 1, n)
        else:
            jit = max(1, k // 32)
            labels = np.zeros(n, np.int64)
            y1 = rng.integers(jit, max(jit, h - k - jit) + 1, n)
            x1 = rng.integers(jit, max(jit, w - k - jit) + 1, n)
            y2 = y1 + rng.integers(-jit, jit + 1, n)
            x2 = x1 + rng.integers(-jit, jit + 1, n)
        y1, x1 = np.clip(y1, 0, h - k), np.clip(x1, 0, w - k)
        y2, x2 = np.clip(y2, 0, h - k), np.clip(x2, 0, w - k)
        p1 = torch.stack([images[i, :, a : a + k, c : c + k] for i, a, c in zip(idx, y1, x1, strict=True)])
        p2 = torch.stack([images[i, :, a : a + k, c : c + k] for i, a, c in zip(idx, y2, x2, strict=True)])
        return p1, p2, torch.as_tensor(labels, device=images.device)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = batch["image"]
        self.check_images(images, self.channels)
        rng = np.random.default_rng([self._hparams["seed"], int(self.steps)])
        self.steps += 1
        logs: dict[str, torch.Tensor] = {}
        loss = images.new_zeros(())
        k = self._hparams["patch_size"]
        for scale, size, cls in (("big", k, self.cls_big), ("small", k // 2, self.cls_small)):
            p1, p2, labels = self._pairs(images, size, rng, position=True)
            pos = F.cross_entropy(cls(self._embed(p1, scale), self._embed(p2, scale)), labels)
            q1, q2, _ = self._pairs(images, size, rng, position=False)
            svdd = (self._embed(q1, scale) - self._embed(q2, scale)).square().sum(1).mean()
            loss = loss + pos + self._hparams["svdd_weight"] * svdd
            logs[f"pos_{scale}"], logs[f"svdd_{scale}"] = pos.detach(), svdd.detach()
        return {"loss": loss, **logs}

    # ------------------------------------------------------------------ fit
    @torch.no_grad()
    def _grids(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """B×h×w×D dense embeddings per scale, the large scale subsampled to stride K/4."""
        small, big = self.dense(images)
        step = max(1, self._hparams["patch_size"] // (4 * STRIDE))
        return {
            "small": small.permute(0, 2, 3, 1),
            "big": big[..., ::step, ::step].permute(0, 2, 3, 1),
        }

    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        images = batch["image"]
        self.check_images(images, self.channels)
        with eval_mode(self):
            grids = self._grids(images)
        gen = torch.Generator().manual_seed(
            int(np.random.default_rng([self._hparams["seed"], self._fit_count]).integers(2**62))
        )
        self._fit_count += 1
        for scale, g in grids.items():
            emb = g.reshape(-1, g.shape[-1]).cpu()
            # A uniform sample without replacement: keep the bank_size smallest random keys seen so far.
            keys = torch.rand(len(emb), generator=gen)
            self._fit[scale] = sample_into_bank(self._fit.get(scale), emb, keys, self._hparams["bank_size"])

    @torch.no_grad()
    def fit_end(self) -> None:
        if "small" not in self._fit:
            raise RuntimeError("patch-svdd: fit_end() called before any fit_batch()")
        device = self.bank_small.device
        self.bank_small = self._fit["small"][0].to(device)
        self.bank_big = self._fit["big"][0].to(device)
        self._fit, self._fit_count = {}, 0

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        if self.bank_small.numel() == 0:
            raise RuntimeError("patch-svdd is not fitted: run fit_batch()/fit_end() (or load a checkpoint)")
        self.check_images(images, self.channels)
        with eval_mode(self):
            grids = self._grids(images)
        k = self._hparams["patch_size"]
        size = tuple(images.shape[-2:])
        amap = None
        for scale, patch, stride in (
            ("small", k // 2, STRIDE),
            ("big", k, STRIDE * max(1, k // (4 * STRIDE))),
        ):
            g = grids[scale]
            b, gh, gw, d = g.shape
            bank = getattr(self, f"bank_{scale}")
            dist = knn_distance(g.reshape(-1, d), bank.to(g.device)).view(b, gh, gw)
            rows = [i * stride for i in range(gh)]
            cols = [j * stride for j in range(gw)]
            m = distribute_scores(dist, rows, cols, patch, size)
            amap = m if amap is None else amap * m
        return Prediction(anomaly_map=amap.float(), score=amap.flatten(1).amax(1).float())

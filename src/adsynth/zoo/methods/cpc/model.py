"""CPC-AD: contrastive predictive coding for anomaly detection (de Haan & Löwe, 2021).

The image is cut into a grid of overlapping square patches (stride half a patch); a small CNN with
layer normalisation embeds each patch on its own (``z``); a row-causal context network over the grid of
embeddings (the output at row r sees rows <= r only) gives context vectors ``c``; for each step
k = 1..K a linear map ``W_k`` predicts the embedding k rows below, ``W_k c[r, q] ≈ z[r + k, q]``.
Training minimises the patch-wise InfoNCE of each prediction against negatives drawn from the embeddings
of the whole batch (other positions and other images). After training, a fitting pass stores a seeded
sample of the normal training embeddings (``bank``, part of the saved state); at test time each
prediction's InfoNCE uses that bank as its negatives, so a test image's score does not depend on the
rest of its batch. The map: each patch's mean loss over the predictions that target it (the top rows,
which no prediction targets, the mean over the predictions they make), spread over the pixels it covers
and blurred; image score: the max (default, measured better) or the mean (the paper's) of the per-patch
losses.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_choice, check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.backbones import resize_lazy_buffers
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.infonce import (
    grid_patches,
    grid_size,
    info_nce_per_anchor,
    patches_to_map,
    sample_rows,
)
from adsynth.zoo.components.oneclass import BankSample

SCORES = ("mean", "max")


def patch_encoder(channels: int, widths: tuple[int, ...], dim: int) -> nn.Sequential:
    """Per-patch CNN: per width a stride-2 3×3 conv, layer norm (GroupNorm with one group: no statistics
    shared across patches or images, which would leak the positive into the negatives), ReLU and a
    3×3 conv; then global average pooling and a linear map to ``dim``."""
    layers: list[nn.Module] = []
    cin = channels
    for w in widths:
        layers += [
            nn.Conv2d(cin, w, 3, stride=2, padding=1),
            nn.GroupNorm(1, w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1),
            nn.GroupNorm(1, w),
            nn.ReLU(inplace=True),
        ]
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, dim)]
    return nn.Sequential(*layers)


class RowCausalConv(nn.Module):
    """A residual 2×3 convolution over a B×D×R×Q grid whose output at row r sees rows r−1 and r only."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, (2, 3))
        self.out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(F.pad(F.relu(x), (1, 1, 1, 0)))  # one row of padding above, none below
        return x + self.out(F.relu(h))


@register_model("cpc")
class CPC(AnomalyModel):
    """Contrastive predictive coding on a grid of patches; anomaly map = per-patch InfoNCE loss.

    Args:
        image_size: side of the square input.
        channels: 1 or 3.
        patch_size: side of a patch in pixels (None: a quarter of the image, the CPC grid of 7×7 patches
            of 64 px on 256 px images); patches overlap by half (stride ``patch_size // 2``).
        widths: channels of the encoder's stride-2 stages.
        dim: embedding size of a patch.
        context_layers: row-causal layers of the context network (each sees one more row above).
        steps: how many rows below are predicted (k = 1..steps).
        negatives: negatives per training step, drawn from the batch's patch embeddings.
        bank_size: normal patch embeddings stored by the fitting pass, the test-time negatives.
        score: image score, ``"max"`` (default: better on the blob task and on magnetic tile, README)
            or ``"mean"`` (the paper's) of the per-patch losses.
        sigma: Gaussian blur of the map in pixels (None: 4 px at 256 px, scaled with the side).
        seed: seed of the negatives and of the bank's sample.

    Example:
        >>> m = CPC(image_size=32, patch_size=8, widths=(4,), dim=8, bank_size=16)
        >>> m.fit_batch({"image": torch.rand(2, 3, 32, 32)}); m.fit_end()
        >>> m.eval().predict(torch.rand(1, 3, 32, 32)).anomaly_map.shape
        torch.Size([1, 32, 32])
    """

    family = "self-supervised"
    paper = "de Haan & Löwe, Contrastive Predictive Coding for Anomaly Detection, arXiv 2107.07820, 2021"
    fit_mode = "both"
    default_epochs = 50
    default_batch_size = 16
    default_lr = 2e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        patch_size: int | None = None,
        widths: tuple[int, ...] = (32, 64, 128),
        dim: int = 128,
        context_layers: int = 2,
        steps: int = 3,
        negatives: int = 256,
        bank_size: int = 4096,
        score: str = "max",
        sigma: float | None = None,
        seed: int = 0,
    ) -> None:
        image_size = check_positive_int(image_size, "image_size")
        patch = image_size // 4 if patch_size is None else check_positive_int(patch_size, "patch_size")
        if not 2 <= patch <= image_size:
            raise ConfigError(f"expected `patch_size` in [2, image_size={image_size}], got {patch_size!r}")
        widths = tuple(check_positive_int(w, "widths[]") for w in widths)
        if not widths:
            raise ConfigError("expected `widths` to hold at least one stage")
        steps = check_positive_int(steps, "steps")
        rows = grid_size(image_size, patch, patch // 2)
        if steps >= rows:
            raise ConfigError(f"expected `steps` < the grid's {rows} rows, got {steps}")
        if sigma is not None:
            sigma = check_range(sigma, 0.0, 1e3, "sigma")
        super().__init__(
            image_size,
            channels,
            patch_size=patch_size,
            widths=list(widths),
            dim=check_positive_int(dim, "dim"),
            context_layers=check_positive_int(context_layers, "context_layers"),
            steps=steps,
            negatives=check_positive_int(negatives, "negatives"),
            bank_size=check_positive_int(bank_size, "bank_size"),
            score=check_choice(score, SCORES, "score"),
            sigma=sigma,
            seed=int(seed),
        )
        self.patch, self.stride = patch, patch // 2
        self.sigma = 4.0 * image_size / 256 if sigma is None else float(sigma)
        self.encoder = patch_encoder(self.channels, widths, int(dim))
        self.context = nn.Sequential(*(RowCausalConv(int(dim)) for _ in range(int(context_layers))))
        self.predictors = nn.ModuleList(nn.Linear(int(dim), int(dim), bias=False) for _ in range(steps))
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.int64))
        self.register_buffer("bank", torch.empty(0, int(dim)))
        self._bank = BankSample(self._hparams["seed"], self._hparams["bank_size"])

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        resize_lazy_buffers(self, state_dict, prefix, ("bank",))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ network
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×D×R×Q patch embeddings ``z`` of images in [0, 1]."""
        patches = grid_patches(images.float() * 2 - 1, self.patch, self.stride)
        b, r, q = patches.shape[:3]
        z = self.encoder(patches.flatten(0, 2))
        return z.view(b, r, q, -1).permute(0, 3, 1, 2)

    def pairs(self, z: torch.Tensor):
        """For each step k: (M×D predictions ``W_k c[r, q]``, M×D targets ``z[r + k, q]``), rows r < R − k."""
        c = self.context(z)
        out = []
        for k, w in enumerate(self.predictors, start=1):
            src = c[:, :, :-k].permute(0, 2, 3, 1).reshape(-1, c.shape[1])
            tgt = z[:, :, k:].permute(0, 2, 3, 1).reshape(-1, z.shape[1])
            out.append((w(src), tgt))
        return out

    # ------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = batch["image"]
        self.check_images(images, self.channels)
        seed = int(np.random.default_rng([self._hparams["seed"], int(self.steps_done)]).integers(2**62))
        gen = torch.Generator().manual_seed(seed)
        self.steps_done += 1
        z = self.embed(images)
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        terms = {}
        for k, (pred, tgt) in enumerate(self.pairs(z), start=1):
            neg = sample_rows(flat, self._hparams["negatives"], gen)
            terms[f"loss_k{k}"] = info_nce_per_anchor(pred, tgt, neg).mean()
        return {"loss": sum(terms.values()) / len(terms), **terms}

    # ------------------------------------------------------------------ fit: the bank of negatives
    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        images = batch["image"]
        self.check_images(images, self.channels)
        z = self.embed(images)
        self._bank.add(z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).cpu())

    @torch.no_grad()
    def fit_end(self) -> None:
        self.bank = self._bank.take(self.name).to(self.bank.device)

    # ------------------------------------------------------------------ inference
    def patch_losses(self, images: torch.Tensor) -> torch.Tensor:
        """B×R×Q per-patch InfoNCE against the bank (see the module docstring)."""
        z = self.embed(images)
        b, _, r, q = z.shape
        bank = self.bank.to(z.device)
        tgt_sum = z.new_zeros(b, r, q)
        tgt_n = z.new_zeros(1, r, 1)
        src_sum = z.new_zeros(b, r, q)
        src_n = z.new_zeros(1, r, 1)
        for k, (pred, tgt) in enumerate(self.pairs(z), start=1):
            loss = info_nce_per_anchor(pred, tgt, bank).view(b, r - k, q)
            tgt_sum[:, k:] += loss
            tgt_n[:, k:] += 1
            src_sum[:, :-k] += loss
            src_n[:, :-k] += 1
        return torch.where(tgt_n > 0, tgt_sum / tgt_n.clamp_min(1), src_sum / src_n.clamp_min(1))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        if self.bank.numel() == 0:
            raise RuntimeError(f"{self.name} is not fitted: run fit_batch()/fit_end() (or load a checkpoint)")
        self.check_images(images, self.channels)
        losses = self.patch_losses(images)
        flat = losses.flatten(1)
        score = flat.mean(1) if self._hparams["score"] == "mean" else flat.amax(1)
        amap = patches_to_map(losses, tuple(images.shape[-2:]), self.patch, self.stride)
        amap = gaussian_blur2d(amap, self.sigma)
        return Prediction(anomaly_map=amap.float(), score=score.float())

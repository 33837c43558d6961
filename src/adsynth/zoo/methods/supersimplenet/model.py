"""SuperSimpleNet (Rolih, Fučka, Skočaj, ICPR 2024; arXiv 2408.03143 and its journal extension
arXiv 2508.19060): SimpleNet's frozen features upscaled, a 1×1 adaptor, Gaussian feature noise only
inside Perlin masks, and a segmentation-detection module.

Training: the frozen backbone's levels 2 and 3 are brought to twice level 2's grid (bilinear),
concatenated, averaged over 3×3 neighbourhoods and standardised per channel; a 1×1 convolution adapts
them. Each batch is doubled; every copy gets its own binary Perlin mask at the feature grid (threshold
0.2, lattice scales 2^0..2^5, half of the masks empty), and N(0, σ²) noise is added to the adapted
features inside it. The segmentation head (1×1 conv → BN → LeakyReLU(0.2) → 1×1 conv) is trained with a
focal loss (γ = 4) plus the truncated L1 loss (anomalous > 0.5, normal < −0.5); the classification head
(5×5 conv on the features and the detached map → BN → ReLU; max- and average-pooled, with the map's max
and mean, → linear) with a focal loss on the image label. Inference: the segmentation logits upsampled
bilinearly and blurred (σ = 4 px at 256) are the map; the classification logit is the image score.

Real defects (supervised and mixed training): when a batch carries ``real_mask`` (B×1×H×W, 0/1), the
real masks are downsampled to the feature grid (bilinear, ≥ 0.5, as DeSTSeg) and OR-ed into the target,
synthetic noise is never put on a real defect, and ``real_label`` (B) marks defective images, with or
without a mask (weak labels: an image-level target only, no noise on them and no segmentation loss).
See :func:`synthesise` and :mod:`adsynth.zoo.real_defects`. Without synthetic anomalies (the real-only
baseline, ``--no-synthetic``) the batch is not doubled and the real masks are the only target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.synthetic_features import (
    SyntheticFeatureModel,
    binary_focal_loss,
    linear_adaptor,
    perlin_masks,
    truncated_l1,
)


def synthesise(
    feats: torch.Tensor,
    rng: np.random.Generator,
    generator: torch.Generator,
    *,
    noise_std: float,
    threshold: float,
    empty_fraction: float = 0.5,
    real_mask: torch.Tensor | None = None,
    clean: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature noise inside Perlin masks, never on a real defect.

    Args:
        feats: B×D×h×w adapted features.
        rng: draws the Perlin masks; ``generator`` draws the noise (on the CPU).
        noise_std, threshold, empty_fraction: noise σ, Perlin threshold, fraction of empty masks.
        real_mask: optional B×1×h×w 0/1 masks of real defects at the feature grid.
        clean: optional B bools: rows left without noise (defective photos known by their label only,
            whose defect could be anywhere).

    Returns:
        ``(perturbed B×D×h×w, target B×1×h×w)`` with target = synthetic mask OR real mask.
    """
    b, _, h, w = feats.shape
    masks = perlin_masks(b, (h, w), rng, empty_fraction=empty_fraction, threshold=threshold, max_scale_log2=5)
    noise_mask = torch.from_numpy(masks).unsqueeze(1).to(feats.device, feats.dtype)
    if clean is not None:
        noise_mask = noise_mask * (~clean.to(feats.device)).to(feats.dtype)[:, None, None, None]
    target = noise_mask
    if real_mask is not None:
        real = real_mask.to(feats.device, feats.dtype)
        noise_mask = noise_mask * (1 - real)
        target = torch.maximum(noise_mask, real)
    noise = (torch.randn(tuple(feats.shape), generator=generator) * noise_std).to(feats.device, feats.dtype)
    return feats + noise * noise_mask, target


class SegmentationDetection(nn.Module):
    """SuperSimpleNet's segmentation head and classification head."""

    def __init__(self, dim: int, hidden: int = 1024, cls_width: int = 128, stop_grad: bool = True) -> None:
        super().__init__()
        self.stop_grad = stop_grad
        self.seg = nn.Sequential(
            nn.Conv2d(dim, hidden, 1),
            nn.BatchNorm2d(hidden),
            nn.LeakyReLU(0.2),
            nn.Conv2d(hidden, 1, 1, bias=False),
        )
        self.cls_conv = nn.Sequential(
            nn.Conv2d(dim + 1, cls_width, 5, padding=2), nn.BatchNorm2d(cls_width), nn.ReLU()
        )
        self.cls_fc = nn.Linear(2 * cls_width + 2, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """B×D×h×w → (B×1×h×w segmentation logits, B classification logits)."""
        seg = self.seg(feats)
        side = seg.detach() if self.stop_grad else seg
        dec = self.cls_conv(torch.cat([feats, side], 1))
        pooled = torch.cat([dec.amax((2, 3)), dec.mean((2, 3)), side.amax((2, 3)), side.mean((2, 3))], 1)
        return seg, self.cls_fc(pooled)[:, 0]


@register_model("supersimplenet")
class SuperSimpleNet(SyntheticFeatureModel):
    """SuperSimpleNet on the bundled ImageNet EfficientNet-Lite0 (levels 2 + 3, upscaled ×2).

    Args:
        image_size, channels: as every model (grayscale is replicated for the ImageNet backbone).
        noise_std: σ of the feature noise in units of the standardised features' per-channel standard
            deviation (the paper's 0.015 is absolute, on WRN-50 features).
        perlin_threshold: threshold of the Perlin noise in [−1, 1] that makes a mask (0.2).
        empty_fraction: fraction of the masks left empty (0.5).
        hidden: width of the segmentation head (the paper's 1024; 256 here, the CPU budget);
            cls_width: of the classification conv (the paper's 128; 32 here).
        adaptor_lr_ratio: the adaptor's learning rate as a fraction of the heads' (the paper's 1e-4 / 2e-4).
        weight_decay: AdamW's (1e-5).
        stop_grad: no gradient from the classification head into the segmentation head (True).
        **options: ``patch``, ``upscale`` (2), ``cache_mb``, ``sigma``, ``seed`` and the backbone options.

    Example:
        >>> import torch
        >>> m = SuperSimpleNet(image_size=32, pretrained=False, hidden=8, cls_width=4).eval()
        >>> m.predict(torch.rand(1, 3, 32, 32)).anomaly_map.shape
        torch.Size([1, 32, 32])
    """

    paper = (
        "Rolih, Fučka, Skočaj, SuperSimpleNet: Unifying Unsupervised and Supervised Learning for Fast and "
        "Reliable Surface Defect Detection, ICPR 2024"
    )
    # The CPU budget (measured best within ~5 CPU-minutes on magnetic tile at 128 px; see the README), not
    # the paper's 300 epochs of batch 32 at lr 2e-4 with 1024-wide heads.
    default_epochs = 8
    default_batch_size = 16
    default_lr = 1e-3
    supervision = ("unsupervised", "weak", "full")

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        noise_std: float = 1.0,
        perlin_threshold: float = 0.2,
        empty_fraction: float = 0.5,
        hidden: int = 256,
        cls_width: int = 32,
        adaptor_lr_ratio: float = 0.5,
        weight_decay: float = 1e-5,
        stop_grad: bool = True,
        upscale: int = 2,
        **options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            noise_std=check_range(noise_std, 0.0, 1e3, "noise_std"),
            perlin_threshold=check_range(perlin_threshold, -1.0, 1.0, "perlin_threshold"),
            empty_fraction=check_range(empty_fraction, 0.0, 1.0, "empty_fraction"),
            hidden=check_positive_int(hidden, "hidden"),
            cls_width=check_positive_int(cls_width, "cls_width"),
            adaptor_lr_ratio=check_range(adaptor_lr_ratio, 0.0, 1e3, "adaptor_lr_ratio"),
            weight_decay=check_range(weight_decay, 0.0, 1.0, "weight_decay"),
            stop_grad=bool(stop_grad),
            upscale=upscale,
            **options,
        )
        d = self.embed_dim
        self.adaptor = linear_adaptor(d)
        self.segdec = SegmentationDetection(d, hidden, cls_width, bool(stop_grad))

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        hp = self._hparams
        lr = lr or self.default_lr
        opt = torch.optim.AdamW(
            [
                {"params": self.adaptor.parameters(), "lr": lr * hp["adaptor_lr_ratio"]},
                {"params": self.segdec.parameters(), "lr": lr},
            ],
            weight_decay=hp["weight_decay"],
        )
        sched = None
        if epochs and epochs >= 5:  # the paper's ×0.4 decays at 80 % and 90 % of the schedule
            sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.8 * epochs), int(0.9 * epochs)], 0.4)
        return opt, sched

    def real_targets(self, batch: dict[str, torch.Tensor], size: tuple[int, int]):
        """Real defects of a batch at the feature grid: ``(B×1×h×w masks or None, B labels or None,
        B bool weak rows or None)``; a weak row is a defective photo without a usable mask."""
        mask = batch.get("real_mask")
        if mask is not None:
            mask = F.interpolate(mask.float(), size=size, mode="bilinear", align_corners=False)
            mask = (mask >= 0.5).float()
        label = batch.get("real_label")
        has = batch.get("real_has_mask")
        weak = None
        if label is not None and has is not None:
            weak = (label > 0) & (has == 0)
            weak = weak if bool(weak.any()) else None
        return mask, None if label is None else label.float(), weak

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hp = self._hparams
        feats = self.adaptor(self.train_embed(batch))
        real_mask, real_label, weak = self.real_targets(batch, tuple(feats.shape[-2:]))
        if self.synthetic_anomalies:
            # Each image twice, each copy with its own Perlin mask of feature noise (half of them empty).
            feats = torch.cat([feats, feats])
            if real_mask is not None:
                real_mask = torch.cat([real_mask, real_mask])
            if real_label is not None:
                real_label = torch.cat([real_label, real_label])
            if weak is not None:
                weak = torch.cat([weak, weak])
            perturbed, target = synthesise(
                feats,
                self.step_rng(),
                self.step_generator(),
                noise_std=hp["noise_std"],
                threshold=hp["perlin_threshold"],
                empty_fraction=hp["empty_fraction"],
                real_mask=real_mask,
                clean=weak,
            )
        else:  # the real-only baseline: the real masks are the only anomalies
            perturbed = feats
            target = real_mask if real_mask is not None else torch.zeros_like(feats[:, :1])
        self.step += 1
        label = target.flatten(1).amax(1)
        if real_label is not None:
            label = torch.maximum(label, real_label.to(label))
        seg, score = self.segdec(perturbed)
        if weak is not None:  # image labels only: no pixel target for these photos
            seg, target = seg[~weak], target[~weak]
        if seg.numel():
            seg_loss = binary_focal_loss(seg, target, gamma=4.0) + truncated_l1(
                -seg[target == 0], -seg[target > 0]
            )
        else:  # a batch of weakly labelled photos only
            seg_loss = seg.sum()
        cls_loss = binary_focal_loss(score, label, gamma=4.0)
        return {"loss": seg_loss + cls_loss, "seg_loss": seg_loss.detach(), "cls_loss": cls_loss.detach()}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        seg, score = self.segdec(self.adaptor(self.embed(images)))
        amap = self.finish(seg[:, 0], images.shape[-2:])
        return Prediction(anomaly_map=amap, score=score.float())

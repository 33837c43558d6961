"""MemSeg (Yang, Wu, Liu, Feng, EAAI 2023 / arXiv 2205.00908): memory of normal features + U-Net segmentation.

A frozen pretrained backbone gives multi-level features (Lite0 levels 1-3, strides 4, 8, 16: the paper's
ResNet-18 layer1-3). A memory bank holds the features of ``memory_size`` normal training images (paper:
30). For a query the nearest memory image is the one with the smallest summed squared difference over all
levels; each level's input to the decoder is ``concat(f, (f − f_mem)²)``. A multi-scale fusion (3×3 conv
per level, weighted by the paper's spatial attention from the difference maps) feeds a U-Net-like decoder
that outputs 2-class logits at input resolution. Training on synthetic anomalies (recipe ``memseg``):
``0.6·L1(softmax[:, 1], mask) + 0.4·Focal(γ = 4)``, AdamW (lr 3e-3, weight decay 5e-4), 10 % warm-up then
cosine to 1e-4. Map: the softmax anomaly channel; score: mean of its ``top_k`` largest values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.features import FeatureModel
from adsynth.zoo.components.losses import focal_loss


def _cbr(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class MemSegDecoder(nn.Module):
    """Multi-scale fusion of ``concat(f, diff)`` per level, then a U-Net-like upsampling path to 2 logits.

    Args:
        in_channels: channels of each level's backbone features (the input is twice that).
        widths: fused width of each level, shallowest first (paper: 64, 128, 256).
        head_width: width of the two last upsampling blocks (stride 2 and full resolution).
    """

    def __init__(self, in_channels: Sequence[int], widths: Sequence[int], head_width: int) -> None:
        super().__init__()
        self.fuse = nn.ModuleList(
            nn.Sequential(*_cbr(2 * c, w)) for c, w in zip(in_channels, widths, strict=True)
        )
        self.merge = nn.ModuleList()
        for deep, shallow in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.merge.append(nn.Sequential(*_cbr(deep + shallow, shallow), *_cbr(shallow, shallow)))
        self.up_half = nn.Sequential(*_cbr(widths[0], head_width))
        self.up_full = nn.Sequential(*_cbr(head_width, head_width))
        self.head = nn.Conv2d(head_width, 2, 3, padding=1)

    def forward(
        self,
        feats: Sequence[torch.Tensor],
        diffs: Sequence[torch.Tensor],
        size: Sequence[int],
        attention: bool,
    ) -> torch.Tensor:
        fused = [f(torch.cat([x, d], 1)) for f, x, d in zip(self.fuse, feats, diffs, strict=True)]
        if attention:
            # Spatial attention (paper): M_n = mean_c(DI_n), M_l = mean_c(DI_l) ⊙ up(M_{l+1}), each
            # normalised by its max over the image so that it weights without shrinking the features.
            att, weights = None, []
            for d in reversed(diffs):
                m = d.mean(1, keepdim=True)
                if att is not None:
                    m = m * F.interpolate(att, size=m.shape[-2:], mode="bilinear", align_corners=False)
                att = m / m.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1, 1)
                weights.append(att)
            fused = [f * (1 + w) for f, w in zip(fused, reversed(weights), strict=True)]
        x = fused[-1]
        for merge, skip in zip(self.merge, fused[-2::-1], strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = merge(torch.cat([x, skip], 1))
        h, w = (int(s) for s in size)
        x = self.up_half(
            F.interpolate(x, size=(max(1, h // 2), max(1, w // 2)), mode="bilinear", align_corners=False)
        )
        x = self.up_full(F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False))
        return self.head(x)


@register_model("memseg")
class MemSeg(FeatureModel):
    """MemSeg: nearest-memory feature differences segmented by a decoder trained on synthetic anomalies.

    Args:
        image_size: training/inference resolution (paper: 256).
        channels: 1 or 3.
        backbone, layers, pretrained, weights, backbone_from: the frozen encoder (bundled ImageNet
            EfficientNet-Lite0, levels 1-3 as the paper's ResNet-18 layer1-3).
        memory_size: normal training images kept in the memory bank (paper: 30), the first ones the
            trainer feeds.
        widths: fused width per level (paper: 64, 128, 256); ``head_width``: the last two blocks' width.
        spatial_attention: weight the fused features by the difference maps' spatial attention (paper).
        l1_weight, focal_weight, focal_gamma: the loss (0.6, 0.4, γ = 4).
        weight_decay, warmup, min_lr: AdamW weight decay (5e-4), warm-up fraction of the epochs (0.1)
            and the cosine schedule's final learning rate (1e-4).
        top_k: the image score is the mean of the map's ``top_k`` largest values.
        normal_fraction: fraction of every batch trained on the clean image with an empty mask instead of
            its synthetic version (the reference code alternates normal and synthetic samples); the first
            ``round(normal_fraction · B)`` samples of each batch, so no random state is involved.
    """

    fit_mode = "gradient"
    uses_synthetic = True
    default_recipe = "memseg"
    default_epochs = 160  # the paper's 5000 steps of batch 8 on an MVTec class of ~250 images
    default_batch_size = 8
    default_lr = 3e-3
    paper = "Yang, Wu, Liu, Feng, MemSeg: a semi-supervised method for image surface defect detection, 2022"
    lazy_buffers = ("memory_0", "memory_1", "memory_2", "memory_3")

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        memory_size: int = 30,
        widths: Sequence[int] = (64, 128, 256),
        head_width: int = 32,
        spatial_attention: bool = True,
        l1_weight: float = 0.6,
        focal_weight: float = 0.4,
        focal_gamma: float = 4.0,
        weight_decay: float = 5e-4,
        warmup: float = 0.1,
        min_lr: float = 1e-4,
        top_k: int = 100,
        normal_fraction: float = 0.0,
        **backbone_options: Any,
    ) -> None:
        widths = [check_positive_int(w, "widths[]") for w in widths]
        super().__init__(
            image_size,
            channels,
            memory_size=check_positive_int(memory_size, "memory_size"),
            widths=widths,
            head_width=check_positive_int(head_width, "head_width"),
            spatial_attention=bool(spatial_attention),
            l1_weight=check_range(l1_weight, 0.0, 1e3, "l1_weight"),
            focal_weight=check_range(focal_weight, 0.0, 1e3, "focal_weight"),
            focal_gamma=check_range(focal_gamma, 0.0, 10.0, "focal_gamma"),
            weight_decay=check_range(weight_decay, 0.0, 1.0, "weight_decay"),
            warmup=check_range(warmup, 0.0, 1.0, "warmup"),
            min_lr=check_range(min_lr, 0.0, 10.0, "min_lr"),
            top_k=check_positive_int(top_k, "top_k"),
            normal_fraction=check_range(normal_fraction, 0.0, 1.0, "normal_fraction"),
            **backbone_options,
        )
        self.decoder = MemSegDecoder(self.level_channels, widths, int(head_width))
        for i in range(len(widths)):
            self.register_buffer(f"memory_{i}", torch.empty(0))

    def derive_hparams(self, channels: list[int], layers: list[int], hparams: dict[str, Any]) -> dict:
        if len(hparams["widths"]) != len(layers) or not 1 <= len(layers) <= 4:
            raise ValueError(
                f"memseg: expected 1-4 layers and one width per layer, got {layers}, {hparams['widths']}"
            )
        return hparams

    def train(self, mode: bool = True) -> MemSeg:
        super().train(mode)
        self.backbone.eval()
        return self

    @property
    def memory(self) -> list[torch.Tensor]:
        return [getattr(self, f"memory_{i}") for i in range(len(self._hparams["layers"]))]

    @torch.no_grad()
    def remember(self, images: torch.Tensor) -> None:
        """Add the features of normal ``images`` to the memory bank until it holds ``memory_size``."""
        need = self._hparams["memory_size"] - self.memory_0.shape[0]
        if need <= 0:
            return
        for i, f in enumerate(self.levels(images[:need])):
            old = getattr(self, f"memory_{i}")
            setattr(self, f"memory_{i}", f.detach().clone() if old.numel() == 0 else torch.cat([old, f]))

    @torch.no_grad()
    def differences(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``(f − f_mem)²`` per level, f_mem the memory image nearest to each query (summed MSE)."""
        mem = self.memory
        dist = sum(
            torch.cdist(f.flatten(1).double(), m.flatten(1).double()).pow(2) / f[0].numel()
            for f, m in zip(feats, mem, strict=True)
        )
        idx = dist.argmin(1)
        return [(f - m[idx]).pow(2) for f, m in zip(feats, mem, strict=True)]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """B×2×H×W segmentation logits."""
        self.require_fitted("memory_0")
        feats = self.levels(images)
        return self.decoder(
            feats, self.differences(feats), images.shape[-2:], self._hparams["spatial_attention"]
        )

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        hp = self._hparams
        lr = lr or self.default_lr
        epochs = epochs or self.default_epochs
        opt = torch.optim.AdamW(self.decoder.parameters(), lr=lr, weight_decay=hp["weight_decay"])
        warm = int(round(hp["warmup"] * epochs))
        floor = min(1.0, hp["min_lr"] / lr)

        def factor(epoch: int) -> float:  # stepped once per epoch by the trainer
            if epoch < warm:
                return (epoch + 1) / (warm + 1)
            t = (epoch - warm) / max(1, epochs - warm)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        self.remember(batch["image"])
        hp = self._hparams
        images, mask = batch["aug_image"], (batch["aug_mask"] > 0.5).float()
        mask = mask[:, 0] if mask.ndim == 4 else mask
        n_normal = int(round(hp["normal_fraction"] * images.shape[0]))
        if n_normal:
            images = torch.cat([batch["image"][:n_normal], images[n_normal:]])
            mask = torch.cat([torch.zeros_like(mask[:n_normal]), mask[n_normal:]])
        probs = self(images).float().softmax(1)
        l1 = (probs[:, 1] - mask).abs().mean()
        focal = focal_loss(probs, mask.long(), gamma=hp["focal_gamma"])
        loss = hp["l1_weight"] * l1 + hp["focal_weight"] * focal
        return {"loss": loss, "l1": l1.detach(), "focal": focal.detach()}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        amap = self(images).float().softmax(1)[:, 1]
        k = min(self._hparams["top_k"], amap[0].numel())
        return Prediction(anomaly_map=amap, score=amap.flatten(1).topk(k, 1).values.mean(1))

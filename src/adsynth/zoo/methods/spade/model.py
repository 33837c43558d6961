"""SPADE (Cohen & Hoshen 2020): kNN image retrieval, then pixel correspondences to the retrieved images.

Fit: for every normal training image, the global feature (average-pooled deepest level) and the feature
pyramid (levels 1-3) of a frozen backbone are stored. Predict: the K training images nearest in global
feature are retrieved; the image score is the mean distance to them. For each pyramid level, every test
pixel's feature is compared with all pixel features of the K images (1-NN distance, κ = 1); the
per-level maps are upsampled bilinearly, averaged and blurred (σ = 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.features import FeatureModel
from adsynth.zoo.coreset import nearest_distances


@register_model("spade")
class Spade(FeatureModel):
    """SPADE: global kNN of normal images + per-pixel nearest-neighbour distances to their pyramids.

    Args:
        image_size: training/inference resolution.
        channels: 1 or 3 (grayscale is replicated for the ImageNet backbone).
        backbone: timm model name (default ``tf_efficientnet_lite0``, bundled ImageNet weights; the
            paper's ``wide_resnet50_2.tv_in1k`` with ``--weights`` or a timm cache).
        layers: pyramid levels for the pixel correspondences (1, 2, 3 = the paper's layer1-3).
        global_layer: level whose average-pooled feature retrieves the K nearest images (4, the deepest
            stage standing in for WRN-50's pooled output).
        pretrained / weights / backbone_from: where the backbone weights come from.
        top_k: K nearest normal images (the paper's 50; the unofficial code uses 5).
        pixel_k: κ nearest pixel features averaged per test pixel (1).
        score: "knn" (paper: mean distance of the global feature to its K nearest) or "max" (max of the map).
        sigma: Gaussian blur of the map, in pixels (4).
        half: store the pixel gallery in float16 (halves the memory; distances are computed in float32).
    """

    paper = "Cohen & Hoshen, Sub-Image Anomaly Detection with Deep Pyramid Correspondences, arXiv 2020"

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        layers: Sequence[int] = (1, 2, 3),
        global_layer: int = 4,
        top_k: int = 50,
        pixel_k: int = 1,
        score: str = "knn",
        sigma: float = 4.0,
        half: bool = False,
        **backbone_options: Any,
    ) -> None:
        layers = [check_positive_int(v, "layers[]") for v in layers]
        global_layer = check_positive_int(global_layer, "global_layer")
        if score not in ("knn", "max"):
            raise ConfigError(f"expected `score` to be 'knn' or 'max', got {score!r}")
        levels = sorted(set(layers) | {global_layer})
        super().__init__(
            image_size,
            channels,
            layers=levels,
            global_layer=global_layer,
            top_k=check_positive_int(top_k, "top_k"),
            pixel_k=check_positive_int(pixel_k, "pixel_k"),
            score=score,
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            half=bool(half),
            **backbone_options,
        )
        self._hparams["layers"] = layers  # the pyramid; the backbone also returns global_layer
        self._pyramid = [levels.index(v) for v in layers]
        self._global = levels.index(global_layer)
        chans = self.level_channels
        self.lazy_buffers = ("global_feats", *(f"gallery{i}" for i in range(len(layers))))
        self.register_buffer("global_feats", torch.empty(0, chans[self._global]))
        dtype = torch.float16 if half else torch.float32
        for i, j in enumerate(self._pyramid):
            self.register_buffer(f"gallery{i}", torch.empty(0, chans[j], 0, 0, dtype=dtype))
        self._collected: list[list[torch.Tensor]] = []

    def _features(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = self.levels(images)
        return feats[self._global].mean((2, 3)), [feats[j] for j in self._pyramid]

    def galleries(self) -> list[torch.Tensor]:
        return [getattr(self, f"gallery{i}") for i in range(len(self._pyramid))]

    # ------------------------------------------------------------------ fit
    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        g, pyr = self._features(batch["image"])
        dtype = self.gallery0.dtype
        self._collected.append([g, *(p.to(dtype) for p in pyr)])

    @torch.no_grad()
    def fit_end(self) -> None:
        if not self._collected:
            raise RuntimeError("spade: fit_end() called before any fit_batch()")
        parts = [torch.cat(col) for col in zip(*self._collected, strict=True)]
        self._collected = []
        self.global_feats = parts[0].contiguous().to(self.global_feats.device)
        for i, p in enumerate(parts[1:]):
            setattr(self, f"gallery{i}", p.contiguous().to(self.global_feats.device))

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.require_fitted("global_feats")
        g, pyr = self._features(images)
        hp = self._hparams
        bank = self.global_feats.to(g.device)
        k = min(hp["top_k"], bank.shape[0])
        gdist, nn_idx = nearest_distances(g, bank, k)
        size = images.shape[-2:]
        maps = torch.zeros(images.shape[0], *size, device=images.device)
        for level, gallery in zip(pyr, self.galleries(), strict=True):
            b, c, h, w = level.shape
            if tuple(gallery.shape[-2:]) != (h, w):
                raise ValueError(
                    f"spade: fitted on {tuple(gallery.shape[-2:])} feature grids (image_size "
                    f"{self.image_size}), got images of size {tuple(size)}"
                )
            out = torch.empty(b, h * w, device=level.device)
            for i in range(b):
                mem = gallery[nn_idx[i].to(gallery.device)].to(level.device, torch.float32)
                mem = mem.permute(0, 2, 3, 1).reshape(-1, c)
                q = level[i].permute(1, 2, 0).reshape(-1, c)
                d, _ = nearest_distances(q, mem, min(hp["pixel_k"], mem.shape[0]))
                out[i] = d.mean(1)
            maps += F.interpolate(
                out.view(b, 1, h, w), size=tuple(size), mode="bilinear", align_corners=False
            ).squeeze(1)
        amap = gaussian_blur2d(maps / len(pyr), hp["sigma"]).float()
        score = gdist.mean(1) if hp["score"] == "knn" else amap.flatten(1).amax(1)
        return Prediction(anomaly_map=amap, score=score.float())

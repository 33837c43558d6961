"""SOE (Kim et al. 2021): PaDiM with a random semi-orthogonal embedding instead of a channel subset.

Fit: levels 1-3 of a frozen backbone are brought to level 1's grid and concatenated (F channels), then
projected by a fixed random F×k matrix W with WᵀW = I; for every position the mean and covariance
(+ 0.01·I) of the projected normal embeddings are estimated from streaming sums. Predict: the Mahalanobis
distance of each position's projected embedding is the map (bilinear, blurred with σ = 4); score = max.
Wᵀ Σ W is the covariance of the projected data, so the paper's low-rank precision (Wᵀ Σ W)⁻¹ is exactly
what the Gaussian of the projected embeddings inverts.
"""

from __future__ import annotations

from typing import Any

import torch

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.features import (
    FeatureModel,
    GaussianAccumulator,
    concat_levels,
    finish_map,
    mahalanobis,
    semi_orthogonal,
)


def default_rank(total: int) -> int:
    """The paper's k: 100 for ResNet-18 (448 channels), 300 for WRN-50 (1792); never more than F."""
    return min(total, 100 if total <= 448 else 300)


@register_model("soe")
class SOE(FeatureModel):
    """SOE: per-position Gaussians of semi-orthogonally projected CNN features.

    Args:
        image_size: training/inference resolution (position-specific: predict at this size).
        channels: 1 or 3.
        backbone: timm model name (default ``tf_efficientnet_lite0``, bundled ImageNet weights).
        layers: levels concatenated (1, 2, 3).
        pretrained / weights / backbone_from: where the backbone weights come from.
        rank: k, the embedding dimension (None: 100 for ≤ 448 channels, else 300, as the paper).
        eps: covariance regulariser (0.01·I).
        sigma: Gaussian blur of the map, in pixels (4).
        seed: seed of the random projection.
    """

    paper = "Kim et al., Semi-orthogonal Embedding for Efficient Unsupervised Anomaly Segmentation, 2021"
    lazy_buffers = ("mean", "inv_cov")

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        rank: int | None = None,
        eps: float = 0.01,
        sigma: float = 4.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            rank=rank,
            eps=check_range(eps, 0.0, 1e6, "eps"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        total = sum(self.level_channels)
        k = default_rank(total) if rank is None else check_positive_int(rank, "rank")
        if k > total:
            raise ConfigError(
                f"expected `rank` <= {total} (channels of layers {self._hparams['layers']}), got {k}"
            )
        self._hparams["rank"] = k
        gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("projection", semi_orthogonal(total, k, gen))
        self.register_buffer("mean", torch.empty(0, 0, k))
        self.register_buffer("inv_cov", torch.empty(0, 0, k, k))
        self._acc = GaussianAccumulator("soe")
        self._grid: tuple[int, int] | None = None

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w×k projected embeddings at the first level's grid."""
        x = concat_levels(self.levels(images)).permute(0, 2, 3, 1)
        return x @ self.projection.to(x.device)

    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        emb = self.embed(batch["image"])
        b, h, w, k = emb.shape
        if self._grid is not None and (h, w) != self._grid:
            raise ValueError(
                f"soe: all training images must have the same size (grid {self._grid}, got {(h, w)})"
            )
        self._grid = (h, w)
        self._acc.add(emb.reshape(b, h * w, k))

    @torch.no_grad()
    def fit_end(self) -> None:
        if self._grid is None:
            raise RuntimeError("soe: fit_end() called before any fit_batch()")
        (h, w), k = self._grid, self._hparams["rank"]
        mean, inv = self._acc.finish(self._hparams["eps"])
        self.mean = mean.view(h, w, k).to(self.projection.device)
        self.inv_cov = inv.view(h, w, k, k).to(self.projection.device)
        self._grid = None

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.require_fitted("mean")
        emb = self.embed(images)
        b, h, w, k = emb.shape
        if (h, w) != tuple(self.mean.shape[:2]):
            raise ValueError(
                f"soe models each position: fitted on a {tuple(self.mean.shape[:2])} feature grid "
                f"(image_size {self.image_size}), got images of size {tuple(images.shape[-2:])}"
            )
        dist = mahalanobis(
            emb.reshape(b, h * w, k),
            self.mean.view(h * w, k).to(emb.device),
            self.inv_cov.view(h * w, k, k).to(emb.device),
        )
        amap, score = finish_map(dist.view(b, h, w), images.shape[-2:], self._hparams["sigma"])
        return Prediction(anomaly_map=amap, score=score)

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

from adsynth._validation import check_positive_int
from adsynth.errors import ConfigError
from adsynth.zoo.base import register_model
from adsynth.zoo.components.features import concat_levels, semi_orthogonal
from adsynth.zoo.components.gaussian_grid import PositionGaussianModel


def default_rank(total: int) -> int:
    """The paper's k: 100 for ResNet-18 (448 channels), 300 for WRN-50 (1792); never more than F."""
    return min(total, 100 if total <= 448 else 300)


@register_model("soe")
class SOE(PositionGaussianModel):
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

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        rank: int | None = None,
        seed: int = 0,
        **options: Any,
    ) -> None:
        # ``seed`` is declared here, not only by the base: the trainer passes its run seed to the models
        # whose constructor names one.
        super().__init__(image_size, channels, rank=rank, seed=seed, **options)
        total = sum(self.level_channels)
        k = default_rank(total) if rank is None else check_positive_int(rank, "rank")
        if k > total:
            raise ConfigError(
                f"expected `rank` <= {total} (channels of layers {self._hparams['layers']}), got {k}"
            )
        self._hparams["rank"] = k
        gen = torch.Generator().manual_seed(self._hparams["seed"])
        self.register_buffer("projection", semi_orthogonal(total, k, gen))
        self.init_gaussians(k)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w×k projected embeddings at the first level's grid."""
        x = concat_levels(self.levels(images)).permute(0, 2, 3, 1)
        return x @ self.projection.to(x.device)

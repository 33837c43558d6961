"""PaDiM (Defard et al., ICPR workshops 2021): one Gaussian per feature-map position.

Fit: layer1-3 features of a frozen backbone are upsampled to layer1's resolution, concatenated and reduced
to a fixed random subset of channels; for every position the mean and covariance (+ 0.01·I) of the
normal training embeddings are estimated from streaming sums. Predict: the Mahalanobis distance of each
position's embedding is the anomaly map (upsampled bilinearly, blurred with σ = 4); score = its max.
"""

from __future__ import annotations

from typing import Any

import torch

from adsynth._validation import check_positive_int
from adsynth.errors import ConfigError
from adsynth.zoo.base import register_model
from adsynth.zoo.components.features import concat_levels
from adsynth.zoo.components.gaussian_grid import PositionGaussianModel


def default_feature_count(total: int) -> int:
    """The paper's random-subset size: 100 of ResNet-18's 448 channels, 550 of WRN-50's 1792."""
    return min(total, 100 if total <= 448 else 550)


@register_model("padim")
class PaDiM(PositionGaussianModel):
    """PaDiM: per-position multivariate Gaussians of pretrained CNN features.

    Args:
        image_size: training/inference resolution (PaDiM is position-specific: predict at this size).
        channels: 1 or 3 (grayscale is replicated for the ImageNet backbone).
        backbone: timm model name (default ``tf_efficientnet_lite0``, ImageNet weights bundled with adsynth;
            the paper's ``wide_resnet50_2.tv_in1k`` with ``--weights`` or a timm cache).
            With ``backbone_from``, the checkpoint's architecture.
        layers: backbone levels concatenated (1, 2, 3).
        pretrained / weights / backbone_from: where the backbone weights come from (see
            :func:`adsynth.zoo.backbones.create_backbone`).
        n_features: size of the random channel subset (None: 100 for ResNet-18, 550 for WRN-50).
        eps: the covariance regulariser (0.01·I).
        sigma: Gaussian blur of the upsampled map, in pixels (4).
        seed: seed of the random channel subset.
    """

    paper = "Defard et al., PaDiM: a Patch Distribution Modeling Framework, ICPR Workshops 2021"

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        n_features: int | None = None,
        seed: int = 0,
        **options: Any,
    ) -> None:
        # ``seed`` is declared here, not only by the base: the trainer passes its run seed to the models
        # whose constructor names one.
        super().__init__(image_size, channels, n_features=n_features, seed=seed, **options)
        total, d = sum(self.level_channels), self._hparams["n_features"]
        gen = torch.Generator().manual_seed(self._hparams["seed"])
        self.register_buffer("channel_idx", torch.randperm(total, generator=gen)[:d].sort().values)
        self.init_gaussians(d)

    def derive_hparams(self, channels: list[int], layers: list[int], hparams: dict[str, Any]) -> dict:
        total = sum(channels)
        n = hparams["n_features"]
        d = default_feature_count(total) if n is None else check_positive_int(n, "n_features")
        if d > total:
            raise ConfigError(f"expected `n_features` <= {total} (channels of layers {layers}), got {d}")
        return {**hparams, "n_features": d}

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w×d embeddings at the first layer's resolution (the random channel subset)."""
        x = concat_levels(self.levels(images))  # nearest: PaDiM's embedding_concat
        x = x.index_select(1, self.channel_idx.to(x.device))
        return x.permute(0, 2, 3, 1).contiguous()

"""PaDiM (Defard et al., ICPR workshops 2021): one Gaussian per feature-map position.

Fit: layer1-3 features of a frozen backbone are upsampled to layer1's resolution, concatenated and reduced
to a fixed random subset of channels; for every position the mean and covariance (+ 0.01·I) of the
normal training embeddings are estimated from streaming sums. Predict: the Mahalanobis distance of each
position's embedding is the anomaly map (upsampled bilinearly, blurred with σ = 4); score = its max.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.features import FeatureModel, GaussianAccumulator, concat_levels, mahalanobis


def default_feature_count(total: int) -> int:
    """The paper's random-subset size: 100 of ResNet-18's 448 channels, 550 of WRN-50's 1792."""
    return min(total, 100 if total <= 448 else 550)


@register_model("padim")
class PaDiM(FeatureModel):
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
    lazy_buffers = ("mean", "inv_cov")

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        n_features: int | None = None,
        eps: float = 0.01,
        sigma: float = 4.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            n_features=n_features,
            eps=check_range(eps, 0.0, 1e6, "eps"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        total, d = sum(self.level_channels), self._hparams["n_features"]
        gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("channel_idx", torch.randperm(total, generator=gen)[:d].sort().values)
        # Fitted statistics, sized by fit_end() or by the loaded state_dict: mean h×w×d, inv_cov h×w×d×d.
        self.register_buffer("mean", torch.empty(0, 0, d))
        self.register_buffer("inv_cov", torch.empty(0, 0, d, d))
        self._reset_sums()

    def derive_hparams(self, channels: list[int], layers: list[int], hparams: dict[str, Any]) -> dict:
        total = sum(channels)
        n = hparams["n_features"]
        d = default_feature_count(total) if n is None else check_positive_int(n, "n_features")
        if d > total:
            raise ConfigError(f"expected `n_features` <= {total} (channels of layers {layers}), got {d}")
        return {**hparams, "n_features": d}

    def _reset_sums(self) -> None:
        self._acc = GaussianAccumulator("padim")
        self._grid: tuple[int, int] | None = None

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w×d embeddings at the first layer's resolution (the random channel subset)."""
        x = concat_levels(self.levels(images))  # nearest: PaDiM's embedding_concat
        x = x.index_select(1, self.channel_idx.to(x.device))
        return x.permute(0, 2, 3, 1).contiguous()

    # ------------------------------------------------------------------ fit
    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        emb = self.embed(batch["image"])
        b, h, w, d = emb.shape
        if self._grid is not None and (h, w) != self._grid:
            raise ValueError(
                f"padim: all training images must have the same size (feature grid {self._grid}, "
                f"got {(h, w)})"
            )
        self._grid = (h, w)
        self._acc.add(emb.view(b, h * w, d))

    @torch.no_grad()
    def fit_end(self) -> None:
        if self._grid is None:
            raise RuntimeError("padim: fit_end() called before any fit_batch()")
        (h, w), d = self._grid, self._hparams["n_features"]
        mean, inv = self._acc.finish(self._hparams["eps"])
        device = self.mean.device
        self.mean = mean.view(h, w, d).to(device)
        self.inv_cov = inv.view(h, w, d, d).to(device)
        self._reset_sums()

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        if self.mean.numel() == 0:
            raise RuntimeError("padim is not fitted: run fit_batch()/fit_end() (or load a checkpoint)")
        emb = self.embed(images)
        b, h, w, d = emb.shape
        if (h, w) != tuple(self.mean.shape[:2]):
            raise ValueError(
                f"padim models each position: fitted on a {tuple(self.mean.shape[:2])} feature grid "
                f"(image_size {self.image_size}), got images of size {tuple(images.shape[-2:])}"
            )
        dist = mahalanobis(
            emb.view(b, h * w, d),
            self.mean.view(h * w, d).to(emb.device),
            self.inv_cov.view(h * w, d, d).to(emb.device),
        )
        amap = F.interpolate(
            dist.view(b, 1, h, w), size=images.shape[-2:], mode="bilinear", align_corners=False
        ).squeeze(1)
        amap = gaussian_blur2d(amap, self._hparams["sigma"])
        return Prediction(anomaly_map=amap.float(), score=amap.flatten(1).amax(1).float())

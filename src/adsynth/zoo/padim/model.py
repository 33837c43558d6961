"""PaDiM (Defard et al., ICPR workshops 2021): one Gaussian per feature-map position.

Fit: layer1-3 features of a frozen backbone are upsampled to layer1's resolution, concatenated and reduced
to a fixed random subset of channels; for every position the mean and covariance (+ 0.01·I) of the
normal training embeddings are estimated from streaming sums. Predict: the Mahalanobis distance of each
position's embedding is the anomaly map (upsampled bilinearly, blurred with σ = 4); score = its max.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.backbones import create_backbone, resize_lazy_buffers, resolve_backbone_name
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.bundled_weights import DEFAULT_BACKBONE
from adsynth.zoo.components.blur import gaussian_blur2d

#: Matrix elements (float64) inverted per block in fit_end: bounds the temporary memory (≈256 MB).
_INV_BLOCK_ELEMENTS = 1 << 25


def default_feature_count(total: int) -> int:
    """The paper's random-subset size: 100 of ResNet-18's 448 channels, 550 of WRN-50's 1792."""
    return min(total, 100 if total <= 448 else 550)


def mahalanobis(x: torch.Tensor, mean: torch.Tensor, inv_cov: torch.Tensor) -> torch.Tensor:
    """Per-position Mahalanobis distances.

    Args:
        x: B×P×d embeddings.
        mean: P×d means.
        inv_cov: P×d×d inverse covariances.

    Returns:
        B×P distances ``sqrt((x−μ)ᵀ Σ⁻¹ (x−μ))``.
    """
    delta = (x - mean.unsqueeze(0)).transpose(0, 1)  # P×B×d: one batched matrix product per position
    m2 = (torch.bmm(delta, inv_cov) * delta).sum(-1)
    return m2.clamp_min(0).sqrt().transpose(0, 1)


@register_model("padim")
class PaDiM(AnomalyModel):
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

    family = "feature-embedding"
    paper = "Defard et al., PaDiM: a Patch Distribution Modeling Framework, ICPR Workshops 2021"
    needs_pretrained = True
    fit_mode = "fit"
    default_epochs = 1
    default_batch_size = 8

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        backbone: str | None = None,
        layers: Sequence[int] = (1, 2, 3),
        pretrained: bool = True,
        weights: str | None = None,
        backbone_from: str | None = None,
        n_features: int | None = None,
        eps: float = 0.01,
        sigma: float = 4.0,
        seed: int = 0,
        weights_source: str | None = None,
    ) -> None:
        name = resolve_backbone_name(backbone, backbone_from, DEFAULT_BACKBONE)
        layers = [check_positive_int(v, "layers[]") for v in layers]
        backbone_module = create_backbone(
            name, layers, pretrained=pretrained, weights=weights, backbone_from=backbone_from
        )
        total = sum(backbone_module.feature_info.channels())
        d = (
            default_feature_count(total)
            if n_features is None
            else check_positive_int(n_features, "n_features")
        )
        if d > total:
            raise ConfigError(f"expected `n_features` <= {total} (channels of layers {layers}), got {d}")
        super().__init__(
            image_size,
            channels,
            backbone=name,
            layers=layers,
            pretrained=bool(pretrained),
            weights=weights,
            backbone_from=backbone_from,
            n_features=d,
            eps=check_range(eps, 0.0, 1e6, "eps"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
        )
        self.backbone = backbone_module
        self.backbone.requires_grad_(False)
        self.weights_source = weights_source or self.backbone.weights_source
        gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("channel_idx", torch.randperm(total, generator=gen)[:d].sort().values)
        # Fitted statistics, sized by fit_end() or by the loaded state_dict: mean h×w×d, inv_cov h×w×d×d.
        self.register_buffer("mean", torch.empty(0, 0, d))
        self.register_buffer("inv_cov", torch.empty(0, 0, d, d))
        self._reset_sums()

    def _reset_sums(self) -> None:
        self._n = 0
        self._shift: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._sum_outer: torch.Tensor | None = None
        self._grid: tuple[int, int] | None = None

    def config(self) -> dict[str, Any]:
        # The state_dict carries the backbone weights (see PatchCore.config).
        return {
            **super().config(),
            "pretrained": False,
            "weights": None,
            "backbone_from": None,
            "weights_source": self.weights_source,
        }

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        resize_lazy_buffers(self, state_dict, prefix, ("mean", "inv_cov"))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w×d embeddings at the first layer's resolution (the random channel subset)."""
        self.check_images(images, self.channels)
        self.backbone.eval()
        feats = self.backbone(images)
        size = feats[0].shape[-2:]
        # Nearest upsampling: each coarse cell is repeated over the finer cells it covers.
        x = torch.cat(
            [f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="nearest") for f in feats], dim=1
        )
        x = x.index_select(1, self.channel_idx.to(x.device))
        return x.permute(0, 2, 3, 1).contiguous()

    # ------------------------------------------------------------------ fit
    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        emb = self.embed(batch["image"])
        b, h, w, d = emb.shape
        x = emb.view(b, h * w, d).transpose(0, 1)  # P×B×d
        if self._shift is None:
            # Sums of (x − shift) with shift ≈ the mean avoid the cancellation of E[xxᵀ] − μμᵀ in float32.
            self._shift = x.mean(1)
            self._sum = torch.zeros_like(self._shift, dtype=torch.float64)
            self._sum_outer = torch.zeros(h * w, d, d, dtype=x.dtype, device=x.device)
            self._grid = (h, w)
        elif (h, w) != self._grid:
            raise ValueError(
                f"padim: all training images must have the same size (feature grid {self._grid}, "
                f"got {(h, w)})"
            )
        xc = x - self._shift.unsqueeze(1)
        self._sum += xc.sum(1, dtype=torch.float64)
        self._sum_outer.baddbmm_(xc.transpose(1, 2), xc)
        self._n += b

    @torch.no_grad()
    def fit_end(self) -> None:
        if self._n == 0:
            raise RuntimeError("padim: fit_end() called before any fit_batch()")
        n, (h, w) = self._n, self._grid
        p, d = self._shift.shape
        mean_c = self._sum / n  # mean of the shifted data, float64
        eye = torch.eye(d, dtype=torch.float64, device=mean_c.device)
        inv = self._sum_outer  # overwritten block by block: no second P×d×d tensor
        block = max(1, _INV_BLOCK_ELEMENTS // (d * d))
        for s in range(0, p, block):
            mc = mean_c[s : s + block]
            cov = (inv[s : s + block].double() - n * mc.unsqueeze(2) * mc.unsqueeze(1)) / max(n - 1, 1)
            cov += self._hparams["eps"] * eye
            inv[s : s + block] = torch.cholesky_inverse(torch.linalg.cholesky(cov)).to(inv.dtype)
        device = self.mean.device
        self.mean = (self._shift.double() + mean_c).float().view(h, w, d).to(device)
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

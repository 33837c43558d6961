"""Shared plumbing of the feature-embedding methods (PaDiM, SOE, SPADE, DFR, PaDiM-SOM, MLF-SC, ...).

* :class:`FeatureModel`: an :class:`~adsynth.zoo.base.AnomalyModel` on a frozen backbone: builds it from
  the usual ``backbone`` / ``layers`` / ``pretrained`` / ``weights`` / ``backbone_from`` options, records
  where its weights came from, keeps checkpoints self-contained (``config`` asks for no weights file when
  rebuilt) and sizes the fitted buffers named in ``lazy_buffers`` from a loaded state_dict.
* :func:`concat_levels`: feature levels brought to one grid and concatenated.
* :func:`finish_map`: patch scores → map at input resolution (bilinear, Gaussian blur) and max score.
* :class:`GaussianAccumulator` and :func:`mahalanobis`: streaming per-position Gaussians (PaDiM, SOE).
* :func:`semi_orthogonal`: a random d×k matrix with orthonormal columns (SOE).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from adsynth._validation import check_positive_int
from adsynth.zoo.backbones import (
    CarriesBackboneWeights,
    create_backbone,
    resize_lazy_buffers,
    resolve_backbone_name,
)
from adsynth.zoo.base import AnomalyModel
from adsynth.zoo.bundled_weights import DEFAULT_BACKBONE
from adsynth.zoo.components.blur import gaussian_blur2d

#: Matrix elements (float64) inverted per block by GaussianAccumulator.finish: bounds the temporary memory.
_INV_BLOCK_ELEMENTS = 1 << 25


class FeatureModel(CarriesBackboneWeights, AnomalyModel):
    """Base class of methods on a frozen, pretrained backbone (fit-only by default).

    Subclasses declare their own hyper-parameters explicitly and pass the backbone options through::

        super().__init__(image_size, channels, backbone=..., layers=..., pretrained=..., weights=...,
                         backbone_from=..., weights_source=..., **own_hparams)

    The backbone is ``self.backbone`` (frozen, eval mode when features are taken).
    """

    family = "feature-embedding"
    needs_pretrained = True
    fit_mode = "fit"
    default_epochs = 1
    default_batch_size = 8
    #: Fitted buffers whose shape depends on the data (resized from a loaded state_dict).
    lazy_buffers: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        image_size: int,
        channels: int,
        *,
        backbone: str | None,
        layers: Sequence[int],
        pretrained: bool,
        weights: str | None,
        backbone_from: str | None,
        weights_source: str | None,
        **hparams: Any,
    ) -> None:
        name = resolve_backbone_name(backbone, backbone_from, DEFAULT_BACKBONE)
        layers = [check_positive_int(v, "layers[]") for v in layers]
        module = create_backbone(
            name, layers, pretrained=pretrained, weights=weights, backbone_from=backbone_from
        )
        hparams = self.derive_hparams(list(module.feature_info.channels()), layers, hparams)
        super().__init__(
            image_size,
            channels,
            backbone=name,
            layers=layers,
            pretrained=bool(pretrained),
            weights=weights,
            backbone_from=backbone_from,
            **hparams,
        )
        self.backbone = module
        self.backbone.requires_grad_(False)
        self.weights_source = weights_source or module.weights_source

    def derive_hparams(self, channels: list[int], layers: list[int], hparams: dict[str, Any]) -> dict:
        """Hook: complete or check hyper-parameters that depend on the backbone's level ``channels``
        (e.g. a default dimension); runs before the module is initialised, so it must not set attributes."""
        return hparams

    @property
    def level_channels(self) -> list[int]:
        return list(self.backbone.feature_info.channels())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        resize_lazy_buffers(self, state_dict, prefix, self.lazy_buffers)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def levels(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The backbone's feature levels (B×C_l×h_l×w_l) for images in [0, 1]."""
        self.check_images(images, self.channels)
        self.backbone.eval()
        return self.backbone(images)

    def require_fitted(self, buffer: str) -> None:
        if getattr(self, buffer).numel() == 0:
            raise RuntimeError(f"{self.name} is not fitted: run fit_batch()/fit_end() (or load a checkpoint)")


def concat_levels(
    feats: Sequence[torch.Tensor], size: tuple[int, int] | None = None, mode: str = "nearest"
) -> torch.Tensor:
    """Bring feature levels to one grid (default: the first level's) and concatenate their channels.

    ``mode="nearest"`` repeats each coarse cell over the finer cells it covers (PaDiM's embedding_concat);
    ``"bilinear"`` interpolates (``align_corners=False``).
    """
    size = tuple(size or feats[0].shape[-2:])
    kw = {} if mode == "nearest" else {"align_corners": False}
    return torch.cat(
        [f if tuple(f.shape[-2:]) == size else F.interpolate(f, size=size, mode=mode, **kw) for f in feats], 1
    )


def finish_map(patch: torch.Tensor, size: Sequence[int], sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """B×h×w patch scores → (B×H×W map upsampled bilinearly and blurred with σ = ``sigma`` px, B max)."""
    amap = F.interpolate(patch.unsqueeze(1).float(), size=tuple(size), mode="bilinear", align_corners=False)
    amap = gaussian_blur2d(amap.squeeze(1), sigma)
    return amap.float(), amap.flatten(1).amax(1).float()


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


class GaussianAccumulator:
    """Streaming per-position mean and covariance of B×P×d embeddings.

    Sums of (x − shift), with shift the first batch's mean, avoid the cancellation of E[xxᵀ] − μμᵀ in
    float32; :meth:`finish` turns the sums into inverse covariances block by block, in place, so the peak
    is one P×d×d float32 tensor.
    """

    def __init__(self, who: str) -> None:
        self.who = who
        self.n = 0
        self.shift: torch.Tensor | None = None
        self.sum: torch.Tensor | None = None
        self.sum_outer: torch.Tensor | None = None

    def add(self, emb: torch.Tensor) -> None:
        """Add B×P×d embeddings."""
        x = emb.transpose(0, 1)  # P×B×d
        if self.shift is None:
            self.shift = x.mean(1)
            self.sum = torch.zeros_like(self.shift, dtype=torch.float64)
            self.sum_outer = torch.zeros(x.shape[0], x.shape[2], x.shape[2], dtype=x.dtype, device=x.device)
        elif x.shape[0] != self.shift.shape[0]:
            raise ValueError(
                f"{self.who}: all training images must have the same size (feature grid of "
                f"{self.shift.shape[0]} positions, got {x.shape[0]})"
            )
        xc = x - self.shift.unsqueeze(1)
        self.sum += xc.sum(1, dtype=torch.float64)
        self.sum_outer.baddbmm_(xc.transpose(1, 2), xc)
        self.n += x.shape[1]

    def finish(self, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(P×d means, P×d×d inverses of covariance + eps·I); the accumulator is emptied."""
        if self.n == 0:
            raise RuntimeError(f"{self.who}: fit_end() called before any fit_batch()")
        n = self.n
        p, d = self.shift.shape
        mean_c = self.sum / n
        eye = torch.eye(d, dtype=torch.float64, device=mean_c.device)
        inv = self.sum_outer  # overwritten block by block: no second P×d×d tensor
        block = max(1, _INV_BLOCK_ELEMENTS // (d * d))
        for s in range(0, p, block):
            mc = mean_c[s : s + block]
            cov = (inv[s : s + block].double() - n * mc.unsqueeze(2) * mc.unsqueeze(1)) / max(n - 1, 1)
            cov += eps * eye
            inv[s : s + block] = torch.cholesky_inverse(torch.linalg.cholesky(cov)).to(inv.dtype)
        mean = (self.shift.double() + mean_c).float()
        self.__init__(self.who)
        return mean, inv


def semi_orthogonal(d: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """A random d×k matrix W with WᵀW = I (k ≤ d): the Q factor of a standard Gaussian matrix, columns
    sign-fixed so that R has a positive diagonal (Haar-distributed)."""
    if not 1 <= k <= d:
        raise ValueError(f"semi_orthogonal: expected 1 <= k <= d, got k={k}, d={d}")
    q, r = torch.linalg.qr(torch.randn(d, k, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r)).unsqueeze(0)).float()

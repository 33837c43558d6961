"""Shared plumbing of the feature-embedding methods (PaDiM, SOE, SPADE, DFR, PaDiM-SOM, MLF-SC, ...).

* :class:`FeatureModel`: the fit-only family on a frozen backbone (its options, weights provenance and
  ``lazy_buffers`` are :class:`~adsynth.zoo.components.backbone_model.BackboneModel`'s).
* :func:`concat_levels`: feature levels brought to one grid and concatenated.
* :func:`finish_map`: patch scores → map at input resolution (bilinear, Gaussian blur) and max score.
* :class:`GaussianAccumulator` and :func:`mahalanobis`: streaming per-position Gaussians (PaDiM, SOE).
* :func:`semi_orthogonal`: a random d×k matrix with orthonormal columns (SOE).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn import functional as F

from adsynth.zoo.components.backbone_model import BackboneModel
from adsynth.zoo.components.blur import gaussian_blur2d

#: Matrix elements (float64) inverted per block by GaussianAccumulator.finish: bounds the temporary memory.
_INV_BLOCK_ELEMENTS = 1 << 25


class FeatureModel(BackboneModel):
    """Base class of the fit-only methods on a frozen, pretrained backbone.

    Subclasses declare their own hyper-parameters and pass the backbone options on (see
    :class:`~adsynth.zoo.components.backbone_model.BackboneModel`)::

        super().__init__(image_size, channels, **own_hparams, **backbone_options)

    The backbone is ``self.backbone`` (frozen, eval mode when features are taken).
    """

    family = "feature-embedding"
    needs_pretrained = True
    fit_mode = "fit"
    default_epochs = 1
    default_batch_size = 8
    frozen_backbone = True

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

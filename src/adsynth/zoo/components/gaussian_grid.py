"""One Gaussian per feature-map position (PaDiM, SOE): the shared builder; a method defines only ``embed``.

:class:`PositionGaussianModel` fits, for every position of the first level's grid, the mean and the
inverse covariance (+ ``eps``·I) of the normal training embeddings from streaming sums
(:class:`~adsynth.zoo.components.features.GaussianAccumulator`), and predicts the Mahalanobis distance of
each position's embedding, upsampled bilinearly and blurred (``sigma`` px); the image score is its max.
A subclass registers its projection in ``__init__``, calls :meth:`PositionGaussianModel.init_gaussians`
with the embedding size and implements :meth:`PositionGaussianModel.embed` (B×h×w×d).
"""

from __future__ import annotations

from typing import Any

import torch

from adsynth._validation import check_range
from adsynth.zoo.base import Prediction
from adsynth.zoo.components.features import FeatureModel, GaussianAccumulator, finish_map, mahalanobis


class PositionGaussianModel(FeatureModel):
    """A :class:`~adsynth.zoo.components.features.FeatureModel` with one Gaussian per grid position.

    Args:
        image_size, channels: as :class:`~adsynth.zoo.base.AnomalyModel` (position-specific: predict at
            ``image_size``).
        eps: the covariance regulariser (0.01·I).
        sigma: Gaussian blur of the upsampled map, in pixels (4).
        seed: seed of the subclass's random projection.
        **hparams: the subclass's own hyper-parameters and the backbone options.
    """

    lazy_buffers = ("mean", "inv_cov")

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        *,
        eps: float = 0.01,
        sigma: float = 4.0,
        seed: int = 0,
        **hparams: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            **hparams,
            eps=check_range(eps, 0.0, 1e6, "eps"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
        )

    def init_gaussians(self, dim: int) -> None:
        """Register the fitted statistics, sized by :meth:`fit_end` or by a loaded state_dict:
        mean h×w×``dim``, inv_cov h×w×``dim``×``dim``."""
        self.register_buffer("mean", torch.empty(0, 0, dim))
        self.register_buffer("inv_cov", torch.empty(0, 0, dim, dim))
        self._acc = GaussianAccumulator(self.name)
        self._grid: tuple[int, int] | None = None

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w×d embeddings of ``images`` on the first level's grid."""
        raise NotImplementedError

    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        emb = self.embed(batch["image"])
        b, h, w, d = emb.shape
        if self._grid is not None and (h, w) != self._grid:
            raise ValueError(
                f"{self.name}: all training images must have the same size (feature grid {self._grid}, "
                f"got {(h, w)})"
            )
        self._grid = (h, w)
        self._acc.add(emb.reshape(b, h * w, d))

    @torch.no_grad()
    def fit_end(self) -> None:
        if self._grid is None:
            raise RuntimeError(f"{self.name}: fit_end() called before any fit_batch()")
        (h, w), d = self._grid, self.mean.shape[-1]
        mean, inv = self._acc.finish(self._hparams["eps"])
        device = self.mean.device
        self.mean = mean.view(h, w, d).to(device)
        self.inv_cov = inv.view(h, w, d, d).to(device)
        self._grid = None

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.require_fitted("mean")
        emb = self.embed(images)
        b, h, w, d = emb.shape
        if (h, w) != tuple(self.mean.shape[:2]):
            raise ValueError(
                f"{self.name} models each position: fitted on a {tuple(self.mean.shape[:2])} feature grid "
                f"(image_size {self.image_size}), got images of size {tuple(images.shape[-2:])}"
            )
        dist = mahalanobis(
            emb.reshape(b, h * w, d),
            self.mean.view(h * w, d).to(emb.device),
            self.inv_cov.view(h * w, d, d).to(emb.device),
        )
        amap, score = finish_map(dist.view(b, h, w), images.shape[-2:], self._hparams["sigma"])
        return Prediction(anomaly_map=amap, score=score)

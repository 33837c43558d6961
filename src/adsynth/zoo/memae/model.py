"""MemAE (Gong et al., ICCV 2019): an autoencoder whose decoder only sees combinations of memory items.

Every spatial position of the encoder's output is a query ``z`` (``feature_dim`` channels). It addresses a
memory of ``memory_size`` learnt items by a softmax over their similarity, the weights are sparsified by a
hard shrinkage with threshold λ, and the decoder reconstructs the image from ``ẑ = w·M``. Normal patterns
are well represented by the memory; a defect is replaced by its closest normal combination, so it shows in
the reconstruction error.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adsynth.errors import ConfigError
from adsynth.zoo.backbones import gaussian_blur2d
from adsynth.zoo.base import AnomalyModel, Prediction, register_model

SIMILARITIES = ("cosine", "dot")
SCORES = ("max", "mean")


def hard_shrink(weights: torch.Tensor, threshold: float, eps: float = 1e-12) -> torch.Tensor:
    """MemAE's continuous hard shrinkage: ``w`` where ``w > λ``, else 0, then L1 re-normalisation.

    The step is written as ``ReLU(w − λ)·w / (|w − λ| + ε)`` so that it has a gradient where it is not
    zero (the paper's relaxation of ``w·1[w > λ]``, valid for w ≥ 0).

    Args:
        weights: ... × N non-negative addressing weights (rows sum to 1).
        threshold: λ; weights at or below it are set to 0.
        eps: keeps the division finite at ``w = λ`` and for rows that shrink to all zeros.

    Returns:
        The shrunk weights, each row re-normalised to sum 1 (a row with no weight above λ stays 0).

    Example:
        >>> hard_shrink(torch.tensor([[0.7, 0.2, 0.1]]), 0.15)
        tensor([[0.7778, 0.2222, 0.0000]])
    """
    shrunk = F.relu(weights - threshold) * weights / ((weights - threshold).abs() + eps)
    return shrunk / shrunk.sum(dim=-1, keepdim=True).clamp_min(eps)


def addressing_entropy(weights: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Mean over queries of ``−Σ_i w_i log w_i`` (0 for one-hot weights): MemAE's sparsity loss."""
    return -(weights * (weights + eps).log()).sum(dim=-1).mean()


class MemoryModule(nn.Module):
    """A memory of N items of C dims, addressed per query by attention with hard shrinkage.

    Args:
        memory_size: N.
        feature_dim: C.
        shrink_threshold: λ of :func:`hard_shrink` (0 disables shrinkage).
        similarity: ``"cosine"`` (the paper's addressing) or ``"dot"`` (the reference code's
            ``F.linear(z, M)``).
        temperature: the cosine similarity is divided by it before the softmax (see the README).

    Example:
        >>> mem = MemoryModule(memory_size=50, feature_dim=8)
        >>> z_hat, w = mem(torch.randn(10, 8))
        >>> z_hat.shape, w.shape, bool(torch.allclose(w.sum(1), torch.ones(10)))
        (torch.Size([10, 8]), torch.Size([10, 50]), True)
    """

    def __init__(
        self,
        memory_size: int,
        feature_dim: int,
        shrink_threshold: float = 0.0025,
        similarity: str = "cosine",
        temperature: float = 0.1,
    ) -> None:
        super().__init__()
        self.shrink_threshold = float(shrink_threshold)
        self.similarity = similarity
        self.temperature = float(temperature)
        bound = feature_dim**-0.5
        self.items = nn.Parameter(torch.empty(memory_size, feature_dim).uniform_(-bound, bound))

    def address(self, queries: torch.Tensor) -> torch.Tensor:
        """Q×N addressing weights of Q×C queries: softmax of the similarity, then hard shrinkage."""
        if self.similarity == "cosine":
            logits = F.normalize(queries, dim=1) @ F.normalize(self.items, dim=1).t() / self.temperature
        else:
            logits = queries @ self.items.t()
        weights = logits.float().softmax(dim=1)
        if self.shrink_threshold > 0:
            weights = hard_shrink(weights, self.shrink_threshold)
        return weights

    def forward(self, queries: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ẑ, w)`` for Q×C queries: the read-out Q×C and the addressing weights Q×N."""
        weights = self.address(queries)
        return weights.to(self.items.dtype) @ self.items, weights


def conv_block(cin: int, cout: int) -> list[nn.Module]:
    """Conv3×3 stride 2, BN, LeakyReLU(0.2): halves the resolution."""
    return [nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]


def deconv_block(cin: int, cout: int) -> list[nn.Module]:
    """ConvTranspose4×4 stride 2, BN, LeakyReLU(0.2): doubles the resolution."""
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]


def smoothed_map(error: torch.Tensor, sigma: float) -> torch.Tensor:
    """A B×H×W error map after a Gaussian blur of ``sigma`` pixels (no blur for ``sigma <= 0``)."""
    return gaussian_blur2d(error.float(), sigma) if sigma > 0 else error.float()


def image_scores(error: torch.Tensor, amap: torch.Tensor, kind: str) -> torch.Tensor:
    """B scores: the maximum of the (smoothed) map, or the mean of the raw per-pixel error."""
    return amap.flatten(1).amax(dim=1) if kind == "max" else error.float().flatten(1).mean(dim=1)


def check_common(image_size: int, channels: int, score: str, map_sigma: float | None) -> float:
    """Validate the arguments shared by the reconstruction methods; return the map's σ in pixels."""
    if image_size < 16 or image_size % 16:
        raise ConfigError(f"expected `image_size` to be a multiple of 16, got {image_size}")
    if channels not in (1, 3):
        raise ConfigError(f"expected `channels` to be 1 or 3, got {channels}")
    if score not in SCORES:
        raise ConfigError(f"expected `score` to be one of {', '.join(SCORES)}, got {score!r}")
    if map_sigma is not None and float(map_sigma) < 0:
        raise ConfigError(f"expected `map_sigma` to be >= 0, got {map_sigma}")
    # σ = 4 px at 256 px (PatchCore/PaDiM's smoothing), scaled with the image side.
    return float(map_sigma) if map_sigma is not None else image_size / 64


@register_model("memae")
class MemAE(AnomalyModel):
    """Memory-augmented autoencoder, 2-D version for images.

    Args:
        image_size: side of the square input, a multiple of 16 (the encoder halves it 4 times).
        channels: 1 or 3.
        base_width: width of the first encoder layer; the encoder is w, 2w, 4w then ``feature_dim``.
        feature_dim: C, the size of a query and of a memory item.
        memory_size: N, the number of memory items (paper: 2000).
        shrink_threshold: λ of the hard shrinkage (paper: 0.0025).
        entropy_weight: α, weight of the addressing-entropy loss (paper: 0.0002).
        similarity: ``"cosine"`` (paper) or ``"dot"`` (reference code).
        temperature: divides the cosine similarity before the softmax.
        score: ``"max"`` of the smoothed map, or ``"mean"`` raw reconstruction error (the paper's score).
        map_sigma: Gaussian σ (pixels) of the anomaly map; default ``image_size / 64``.

    Example:
        >>> m = MemAE(image_size=64, base_width=8, feature_dim=16, memory_size=20).eval()
        >>> m.predict(torch.rand(2, 3, 64, 64)).anomaly_map.shape
        torch.Size([2, 64, 64])
    """

    family: ClassVar[str] = "memory"
    paper: ClassVar[str] = "Gong et al., ICCV 2019 (MemAE)"
    needs_pretrained: ClassVar[bool] = False
    fit_mode: ClassVar[str] = "gradient"
    default_epochs: ClassVar[int] = 100
    default_batch_size: ClassVar[int] = 14
    default_lr: ClassVar[float] = 1e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        base_width: int = 64,
        feature_dim: int = 256,
        memory_size: int = 2000,
        shrink_threshold: float = 0.0025,
        entropy_weight: float = 0.0002,
        similarity: str = "cosine",
        temperature: float = 0.1,
        score: str = "max",
        map_sigma: float | None = None,
    ) -> None:
        sigma = check_common(int(image_size), int(channels), score, map_sigma)
        for name, v in (
            ("base_width", base_width),
            ("feature_dim", feature_dim),
            ("memory_size", memory_size),
        ):
            if int(v) < 1:
                raise ConfigError(f"expected `{name}` to be a positive int, got {v}")
        if not 0 <= float(shrink_threshold) < 1:
            raise ConfigError(f"expected `shrink_threshold` to be in [0, 1), got {shrink_threshold}")
        if float(entropy_weight) < 0:
            raise ConfigError(f"expected `entropy_weight` to be >= 0, got {entropy_weight}")
        if similarity not in SIMILARITIES:
            raise ConfigError(
                f"expected `similarity` to be one of {', '.join(SIMILARITIES)}, got {similarity!r}"
            )
        if float(temperature) <= 0:
            raise ConfigError(f"expected `temperature` to be > 0, got {temperature}")
        super().__init__(
            image_size,
            channels,
            base_width=int(base_width),
            feature_dim=int(feature_dim),
            memory_size=int(memory_size),
            shrink_threshold=float(shrink_threshold),
            entropy_weight=float(entropy_weight),
            similarity=similarity,
            temperature=float(temperature),
            score=score,
            map_sigma=map_sigma,
        )
        self.entropy_weight = float(entropy_weight)
        self.score_kind = score
        self.map_sigma = sigma
        w, c = int(base_width), int(feature_dim)
        self.encoder = nn.Sequential(
            *conv_block(self.channels, w),
            *conv_block(w, 2 * w),
            *conv_block(2 * w, 4 * w),
            nn.Conv2d(4 * w, c, 3, 2, 1),
        )
        self.memory = MemoryModule(
            int(memory_size), c, float(shrink_threshold), similarity, float(temperature)
        )
        self.decoder = nn.Sequential(
            *deconv_block(c, 4 * w),
            *deconv_block(4 * w, 2 * w),
            *deconv_block(2 * w, w),
            nn.ConvTranspose2d(w, self.channels, 4, 2, 1),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction B×C×H×W and addressing weights (B·h·w)×N of ``x``."""
        z = self.encoder(x)
        b, c, h, w = z.shape
        queries = z.permute(0, 2, 3, 1).reshape(-1, c)
        z_hat, weights = self.memory(queries)
        z_hat = z_hat.reshape(b, h, w, c).permute(0, 3, 1, 2)
        return self.decoder(z_hat), weights

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        rec, weights = self(x)
        l2 = F.mse_loss(rec.float(), x.float())
        entropy = addressing_entropy(weights)
        return {"loss": l2 + self.entropy_weight * entropy, "l2": l2, "entropy": entropy}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        rec, _ = self(images)
        error = (rec.float() - images.float()).pow(2).mean(dim=1)
        amap = smoothed_map(error, self.map_sigma)
        return Prediction(anomaly_map=amap, score=image_scores(error, amap, self.score_kind))

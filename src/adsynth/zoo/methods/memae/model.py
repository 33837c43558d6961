"""MemAE (Gong et al., ICCV 2019): an autoencoder whose decoder only sees combinations of memory items.

Every spatial position of the encoder's output is a query ``z`` (``feature_dim`` channels). It addresses a
memory of ``memory_size`` learnt items by a softmax over their similarity, the weights are sparsified by a
hard shrinkage with threshold λ, and the decoder reconstructs the image from ``ẑ = w·M``. Normal patterns
are well represented by the memory; a defect is replaced by its closest normal combination, so it shows in
the reconstruction error. The memory itself is :class:`~adsynth.zoo.components.memory.MemoryModule`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.maps import check_map_options, image_scores, smoothed_map
from adsynth.zoo.components.memory import SIMILARITIES, MemoryModule, addressing_entropy


def conv_block(cin: int, cout: int) -> list[nn.Module]:
    """Conv3×3 stride 2, BN, LeakyReLU(0.2): halves the resolution."""
    return [nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]


def deconv_block(cin: int, cout: int) -> list[nn.Module]:
    """ConvTranspose4×4 stride 2, BN, LeakyReLU(0.2): doubles the resolution."""
    return [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]


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
        sigma = check_map_options(int(image_size), score, map_sigma)
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

"""MNAD (Park, Noh, Ham, CVPR 2020), reconstruction variant: memory-guided normality for anomaly detection.

A convolutional encoder maps the image to a grid of L2-normalised queries; a small memory of prototypical
normal features is read by attention and the read-out is concatenated to each query before the decoder.
The memory items are *not* learnt by back-propagation: after each training step they move towards the
queries that chose them (the update rule below), so they stay a summary of normal features. Two losses
shape the queries: compactness (close to their nearest item) and separateness (closer to the nearest
item than to the second nearest, a triplet margin).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.maps import check_map_options, image_scores, smoothed_map


def memory_scores(queries: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax of the Q×M query-item inner products over the queries (dim 0) and over the items (dim 1)."""
    logits = queries @ items.t()
    return logits.softmax(dim=0), logits.softmax(dim=1)


def read_memory(queries: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Q×2C: each query next to its attention-weighted read-out of the memory."""
    _, over_items = memory_scores(queries, items)
    return torch.cat([queries, over_items @ items], dim=1)


def update_memory(queries: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """The memory after one update step (MNAD's rule; deterministic, no autograd).

    Each query is assigned to its nearest item (top-1 of the softmax over items). Item ``m`` then adds
    the sum of its assigned queries, each weighted by its softmax-over-queries score for ``m`` divided by
    the largest such score of any query, and is L2-normalised again.

    Args:
        queries: Q×C L2-normalised queries.
        items: M×C current memory.

    Returns:
        M×C updated, L2-normalised memory (items that no query chose only get re-normalised).

    Example:
        >>> items = F.normalize(torch.rand(3, 4), dim=1)
        >>> update_memory(F.normalize(torch.rand(6, 4), dim=1), items).norm(dim=1)
        tensor([1.0000, 1.0000, 1.0000])
    """
    with torch.no_grad():
        queries, items = queries.detach().float(), items.float()
        over_queries, over_items = memory_scores(queries, items)
        assigned = F.one_hot(over_items.argmax(dim=1), items.shape[0]).to(queries.dtype)
        weights = assigned * over_queries / over_queries.amax(dim=0, keepdim=True)
        # A matrix product instead of a scatter-add: the same result on every device and every run.
        return F.normalize(items + weights.t() @ queries, dim=1)


def compactness_loss(queries: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Mean squared distance (per element) between each query and its nearest memory item."""
    nearest = items[(queries @ items.t()).argmax(dim=1)]
    return F.mse_loss(queries, nearest)


def separateness_loss(queries: torch.Tensor, items: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Triplet margin loss: each query (anchor) vs its nearest (positive) and second-nearest item (negative).

    ``mean(max(0, ‖q − p‖ − ‖q − n‖ + margin))``; needs at least two items.
    """
    top2 = (queries @ items.t()).topk(2, dim=1).indices
    positive, negative = items[top2[:, 0]], items[top2[:, 1]]
    return F.triplet_margin_loss(queries, positive, negative, margin=margin)


def double_conv(cin: int, cout: int, last_relu: bool = True) -> nn.Sequential:
    """(Conv3×3-BN-ReLU)×2; without the last ReLU for the query layer (queries may be negative)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
    ]
    if last_relu:
        layers += [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def up_block(cin: int, cout: int) -> nn.Sequential:
    """ConvTranspose3×3 stride 2 (×2 resolution), BN, ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


@register_model("mnad")
class MNAD(AnomalyModel):
    """MNAD, reconstruction variant, for images.

    Args:
        image_size: side of the square input, a multiple of 16.
        channels: 1 or 3.
        base_width: encoder widths w, 2w, 4w then ``memory_dim`` (paper: 64, 128, 256, 512).
        memory_size: M, the number of memory items (paper: 10).
        memory_dim: C, the size of a query and of an item (paper: 512).
        compactness_weight, separateness_weight: loss weights (paper: 0.1 each).
        alpha: weight of the reconstruction term in the anomaly map, ``1 − alpha`` for the query-memory
            distance (paper: 0.7).
        score: ``"max"`` of the smoothed map, or ``"mean"`` of the two terms over the image.
        map_sigma: Gaussian σ (pixels) of the anomaly map; default ``image_size / 64``.

    Example:
        >>> m = MNAD(image_size=64, base_width=8, memory_dim=32).eval()
        >>> m.predict(torch.rand(2, 3, 64, 64)).score.shape
        torch.Size([2])
    """

    family: ClassVar[str] = "memory"
    paper: ClassVar[str] = "Park, Noh, Ham, CVPR 2020 (MNAD, reconstruction)"
    default_epochs: ClassVar[int] = 60
    default_batch_size: ClassVar[int] = 4
    default_lr: ClassVar[float] = 2e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        base_width: int = 64,
        memory_size: int = 10,
        memory_dim: int = 512,
        compactness_weight: float = 0.1,
        separateness_weight: float = 0.1,
        alpha: float = 0.7,
        score: str = "max",
        map_sigma: float | None = None,
    ) -> None:
        sigma = check_map_options(int(image_size), score, map_sigma)
        if int(base_width) < 1 or int(memory_dim) < 1:
            raise ConfigError(
                f"expected `base_width` and `memory_dim` to be positive ints, got {base_width}, {memory_dim}"
            )
        if int(memory_size) < 2:
            raise ConfigError(f"expected `memory_size` to be an int >= 2, got {memory_size}")
        if float(compactness_weight) < 0 or float(separateness_weight) < 0:
            raise ConfigError("expected `compactness_weight` and `separateness_weight` to be >= 0")
        if not 0 <= float(alpha) <= 1:
            raise ConfigError(f"expected `alpha` to be in [0, 1], got {alpha}")
        super().__init__(
            image_size,
            channels,
            base_width=int(base_width),
            memory_size=int(memory_size),
            memory_dim=int(memory_dim),
            compactness_weight=float(compactness_weight),
            separateness_weight=float(separateness_weight),
            alpha=float(alpha),
            score=score,
            map_sigma=map_sigma,
        )
        self.compactness_weight = float(compactness_weight)
        self.separateness_weight = float(separateness_weight)
        self.alpha = float(alpha)
        self.score_kind = score
        self.map_sigma = sigma
        w, c = int(base_width), int(memory_dim)
        self.encoder = nn.Sequential(
            double_conv(self.channels, w),
            nn.MaxPool2d(2),
            double_conv(w, 2 * w),
            nn.MaxPool2d(2),
            double_conv(2 * w, 4 * w),
            nn.MaxPool2d(2),
            double_conv(4 * w, c, last_relu=False),
        )
        self.decoder = nn.Sequential(
            double_conv(2 * c, c),
            up_block(c, 4 * w),
            double_conv(4 * w, 4 * w),
            up_block(4 * w, 2 * w),
            double_conv(2 * w, 2 * w),
            up_block(2 * w, w),
            double_conv(w, w),
            nn.Conv2d(w, self.channels, 3, padding=1),
        )
        gen = torch.Generator().manual_seed(0)
        self.register_buffer("memory", F.normalize(torch.rand(int(memory_size), c, generator=gen), dim=1))
        # Training-set means of the two map terms (running mean, then an exponential average): the
        # fixed scales that put them on a par in the anomaly map (see the README).
        self.register_buffer("error_scale", torch.ones(()))
        self.register_buffer("distance_scale", torch.ones(()))
        self.register_buffer("scale_steps", torch.zeros((), dtype=torch.int64))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """(B·h·w)×C L2-normalised queries of ``x`` and the grid shape (B, h, w)."""
        z = self.encoder(x).float()
        b, c, h, w = z.shape
        return F.normalize(z.permute(0, 2, 3, 1).reshape(-1, c), dim=1), (b, h, w)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int]]:
        """Reconstruction B×C×H×W of ``x``, its queries (B·h·w)×C and their grid (B, h, w)."""
        queries, (b, h, w) = self.encode(x)
        read = read_memory(queries, self.memory)
        z = read.reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return self.decoder(z.to(x.dtype)), queries, (b, h, w)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        rec, queries, _ = self(x)
        l2 = F.mse_loss(rec.float(), x.float())
        compact = compactness_loss(queries, self.memory)
        separate = separateness_loss(queries, self.memory)
        loss = l2 + self.compactness_weight * compact + self.separateness_weight * separate
        with torch.no_grad():
            # A new tensor, not an in-place write: autograd still needs this step's memory for backward.
            self.memory = update_memory(queries, self.memory)
            self._track_scales(l2.detach(), compact.detach())
        return {"loss": loss, "l2": l2, "compactness": compact, "separateness": separate}

    def _track_scales(self, error: torch.Tensor, distance: torch.Tensor) -> None:
        self.scale_steps += 1
        rate = max(0.05, 1.0 / float(self.scale_steps))
        first = bool(self.scale_steps == 1)
        for buf, value in ((self.error_scale, error), (self.distance_scale, distance)):
            buf.copy_(value if first else buf + rate * (value - buf))

    def maps(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel squared reconstruction error and query-memory distance (at input size), both B×H×W
        and divided by their training means."""
        rec, queries, (b, h, w) = self(images)
        error = (rec.float() - images.float()).pow(2).mean(dim=1)
        nearest = self.memory[(queries @ self.memory.t()).argmax(dim=1)]
        dist = (queries - nearest).pow(2).mean(dim=1).reshape(b, 1, h, w)
        dist = F.interpolate(dist, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        eps = 1e-12
        return error / self.error_scale.clamp_min(eps), dist / self.distance_scale.clamp_min(eps)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        error, dist = self.maps(images)
        combined = self.alpha * error + (1 - self.alpha) * dist
        amap = smoothed_map(combined, self.map_sigma)
        return Prediction(anomaly_map=amap, score=image_scores(combined, amap, self.score_kind))

"""VT-ADL (Mishra, Verk, Fornasier, Piciarelli, Foresti, ISIE 2021): a vision transformer on patches, a
reconstruction decoder and a Gaussian-mixture density on the encoded patches.

The paper trains from scratch on image patches and decodes pixels. Here the patch tokens are the bundled
ImageNet EfficientNet-Lite0's features on a stride-16 grid (level 2 average-pooled ×2 concatenated with
level 3): a CPU schedule of a few epochs cannot train a ViT from scratch on 752 images, and every
from-scratch method of the zoo stays near chance on magnetic tile. A small transformer encoder (learned
position embeddings) maps each token to a latent code; a per-token MLP decoder reconstructs the
(layer-normalised) token features; a learned diagonal Gaussian mixture models the latent codes. Loss:
MSE(reconstruction) + ``nll_weight`` · mean NLL per latent dimension. After training, a fitting pass
records the per-position mean and standard deviation of the two per-token terms on the normal images; the
map is the sum of their z-scores (``rec_weight`` for the reconstruction), upsampled and blurred.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.features import FeatureModel, finish_map


class GaussianMixture(nn.Module):
    """A learned K-component diagonal Gaussian mixture on d-dimensional codes."""

    def __init__(self, k: int, d: int, min_log_var: float = -6.0) -> None:
        super().__init__()
        self.means = nn.Parameter(torch.randn(k, d) * 0.5)
        self.log_var = nn.Parameter(torch.zeros(k, d))
        self.logits = nn.Parameter(torch.zeros(k))
        self.min_log_var = min_log_var

    def nll(self, z: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of each code (…×d → …)."""
        lv = self.log_var.clamp_min(self.min_log_var)
        diff = z.unsqueeze(-2) - self.means  # …×K×d
        log_n = -0.5 * ((diff.pow(2) / lv.exp()) + lv + math.log(2 * math.pi)).sum(-1)
        return -torch.logsumexp(log_n + self.logits.log_softmax(0), -1)


@register_model("vt-adl")
class VTADL(FeatureModel):
    """VT-ADL on bundled-feature patch tokens: transformer encoder, feature decoder, Gaussian mixture.

    Args:
        image_size: training/inference resolution, a multiple of 16 (position embeddings per token).
        channels: 1 or 3.
        backbone, layers, pretrained, weights, backbone_from: the frozen token extractor (Lite0 levels
            2, 3; the last level sets the token grid).
        dim, depth, heads: the transformer encoder (128, 4, 8; the paper: 512, 6, 8 from scratch).
        latent_dim: latent code per patch (32); components: mixture components (10).
        nll_weight: weight of the mixture's NLL per latent dimension in the loss (0.1).
        rec_weight: weight of the reconstruction z-score in the map (1; 0: the mixture only).
        sigma: Gaussian blur of the map in pixels (4).
    """

    fit_mode = "both"
    default_epochs = 100
    default_batch_size = 8
    default_lr = 1e-3
    paper = "Mishra et al., VT-ADL: a vision transformer network for image anomaly detection, ISIE 2021"
    lazy_buffers = ("nll_stats", "rec_stats")
    default_layers = (2, 3)

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        dim: int = 128,
        depth: int = 4,
        heads: int = 8,
        latent_dim: int = 32,
        components: int = 10,
        nll_weight: float = 0.1,
        rec_weight: float = 1.0,
        sigma: float = 4.0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            dim=check_positive_int(dim, "dim"),
            depth=check_positive_int(depth, "depth"),
            heads=check_positive_int(heads, "heads"),
            latent_dim=check_positive_int(latent_dim, "latent_dim"),
            components=check_positive_int(components, "components"),
            nll_weight=check_range(nll_weight, 0.0, 1e3, "nll_weight"),
            rec_weight=check_range(rec_weight, 0.0, 1e3, "rec_weight"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            **backbone_options,
        )
        stride = self.backbone.feature_info.reduction()[-1]
        if self.image_size % stride:
            raise ValueError(f"vt-adl: image_size must be a multiple of {stride}, got {image_size}")
        self.grid = self.image_size // stride
        c = sum(self.level_channels)
        self.embed = nn.Linear(c, dim)
        self.pos = nn.Parameter(torch.zeros(1, self.grid * self.grid, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.to_latent = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, dim), nn.GELU(), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, c)
        )
        self.mixture = GaussianMixture(components, latent_dim)
        self.register_buffer("nll_stats", torch.empty(0))
        self.register_buffer("rec_stats", torch.empty(0))
        self._sums: list[torch.Tensor] = []

    def train(self, mode: bool = True) -> VTADL:
        super().train(mode)
        self.backbone.eval()
        return self

    @torch.no_grad()
    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """B×P×C layer-normalised patch tokens on the last level's grid."""
        feats = self.levels(images)
        size = feats[-1].shape[-2:]
        x = torch.cat([f if f.shape[-2:] == size else F.adaptive_avg_pool2d(f, size) for f in feats], 1)
        if tuple(size) != (self.grid, self.grid):
            raise ValueError(f"vt-adl has position embeddings for image_size {self.image_size}")
        x = x.flatten(2).transpose(1, 2)
        return F.layer_norm(x, x.shape[-1:])

    def terms(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token (B×P) mixture NLL per latent dimension and reconstruction MSE."""
        t = self.tokens(images)
        z = self.to_latent(self.encoder(self.embed(t) + self.pos))
        rec = (self.decoder(z) - t).pow(2).mean(-1)
        return self.mixture.nll(z) / z.shape[-1], rec

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        nll, rec = self.terms(batch["image"])
        nll, rec = nll.mean(), rec.mean()
        return {"loss": rec + self._hparams["nll_weight"] * nll, "nll": nll.detach(), "rec": rec.detach()}

    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        self.eval()
        nll, rec = self.terms(batch["image"])
        s = torch.stack([nll.sum(0), nll.pow(2).sum(0), rec.sum(0), rec.pow(2).sum(0)]).double()
        n = torch.full((1, nll.shape[1]), float(nll.shape[0]), dtype=torch.float64, device=s.device)
        self._sums.append(torch.cat([s, n]))

    @torch.no_grad()
    def fit_end(self) -> None:
        if not self._sums:
            raise RuntimeError("vt-adl: fit_end() called before any fit_batch()")
        s = torch.stack(self._sums).sum(0)
        self._sums = []
        n = s[4]
        stats = []
        for a, b in ((s[0], s[1]), (s[2], s[3])):
            mean = a / n
            std = (b / n - mean.pow(2)).clamp_min(0).sqrt().clamp_min(1e-6 + 1e-3 * mean.abs().mean())
            stats.append(torch.stack([mean, std]).float())
        self.nll_stats, self.rec_stats = stats

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        self.require_fitted("nll_stats")
        nll, rec = self.terms(images)
        score = (nll - self.nll_stats[0]) / self.nll_stats[1]
        score = score + self._hparams["rec_weight"] * (rec - self.rec_stats[0]) / self.rec_stats[1]
        amap, top = finish_map(
            score.view(-1, self.grid, self.grid), images.shape[-2:], self._hparams["sigma"]
        )
        return Prediction(anomaly_map=amap, score=top)

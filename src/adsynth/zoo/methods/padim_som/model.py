"""PaDiM-SOM: PaDiM's embedding with self-organizing maps of the normal features instead of Gaussians.

The TIM-2022 localization survey lists the SOM variant of PaDiM (Li et al., Anomaly Detection via
Self-Organizing Map, ICIP 2021) with the deep-feature-modelling methods. Fit: PaDiM's embedding (levels
1-3 on level 1's grid, a random channel subset) of every normal training image is stored; then either one
small SOM per position, trained on the embeddings of that position and its neighbours within
``neighborhood`` cells (``mode="position"``), or one larger SOM over all positions (``"shared"``) is fitted
with the batch SOM algorithm (Gaussian neighbourhood on the node grid, radius decaying linearly from half
the grid to 0.25). Predict: the distance of each position's embedding to its best-matching node is the map
(bilinear, σ = 4 blur); score = max.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.features import FeatureModel, concat_levels, finish_map

#: Sample values (float32) trained at once in position mode: bounds the temporaries (≈ 256 MB each).
_BLOCK = 1 << 26


def grid_neighbourhood(side: int, radius: float, device=None) -> torch.Tensor:
    """M×M Gaussian neighbourhood weights exp(−‖g_i − g_j‖² / 2r²) of a side×side node grid."""
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    g = torch.stack([yy.flatten(), xx.flatten()], 1).float().to(device)
    return torch.exp(-torch.cdist(g, g).pow(2) / (2 * radius * radius))


def batch_som(samples: torch.Tensor, side: int, iterations: int, generator: torch.Generator) -> torch.Tensor:
    """Batch SOM of several independent maps.

    Args:
        samples: G×S×d (G maps, S samples each).
        side: nodes per side of each map (M = side²).
        iterations: batch updates; the neighbourhood radius decays linearly from side/2 to 0.25 (where
            neighbours weigh exp(−8): the last updates are nearly k-means steps).
        generator: picks the initial nodes among the samples.

    Returns:
        G×M×d nodes.
    """
    g, s, d = samples.shape
    m = side * side
    init = torch.stack([torch.randperm(s, generator=generator)[:m] for _ in range(g)]).to(samples.device)
    if s < m:
        init = init.repeat(1, -(-m // s))[:, :m]
    nodes = torch.gather(samples, 1, init.unsqueeze(2).expand(-1, -1, d)).clone()
    for t in range(iterations):
        frac = t / max(iterations - 1, 1)
        radius = max(0.25, side / 2 * (1 - frac) + 0.25 * frac)
        hood = grid_neighbourhood(side, radius, samples.device)  # M×M
        bmu = torch.cdist(samples, nodes).argmin(2)  # G×S
        sums = torch.zeros_like(nodes).scatter_add_(1, bmu.unsqueeze(2).expand(-1, -1, d), samples)
        counts = torch.zeros(g, m, device=samples.device).scatter_add_(
            1, bmu, torch.ones_like(bmu, dtype=nodes.dtype)
        )
        num = torch.einsum("bm,gbd->gmd", hood, sums)
        den = counts @ hood
        nodes = torch.where(den.unsqueeze(2) > 1e-8, num / den.clamp_min(1e-8).unsqueeze(2), nodes)
    return nodes


@register_model("padim-som")
class PaDiMSOM(FeatureModel):
    """PaDiM with a self-organizing map per position (or one shared map) instead of one Gaussian.

    Args:
        image_size: training/inference resolution (position-specific in ``"position"`` mode).
        channels: 1 or 3.
        backbone: timm model name (default ``tf_efficientnet_lite0``, bundled ImageNet weights).
        layers: levels concatenated (1, 2, 3).
        pretrained / weights / backbone_from: where the backbone weights come from.
        n_features: random channel subset (None: PaDiM's 100 for ≤ 448 channels, else 550).
        mode: "position" (one map per position) or "shared" (one map for all positions).
        som_size: nodes per side of each map (None: 3 per position, 16 shared).
        neighborhood: in "position" mode, train each map also on positions within this many cells (1).
        iterations: batch-SOM updates (10).
        sigma: Gaussian blur of the map, in pixels (4).
        seed: seed of the channel subset and the nodes' initialisation.
    """

    paper = (
        "Li et al., Anomaly Detection via Self-Organizing Map, ICIP 2021 (PaDiM embedding, TIM-2022 survey)"
    )
    lazy_buffers = ("nodes",)

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        n_features: int | None = None,
        mode: str = "position",
        som_size: int | None = None,
        neighborhood: int = 1,
        iterations: int = 10,
        sigma: float = 4.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        if mode not in ("position", "shared"):
            raise ConfigError(f"expected `mode` to be 'position' or 'shared', got {mode!r}")
        som_size = (3 if mode == "position" else 16) if som_size is None else som_size
        super().__init__(
            image_size,
            channels,
            n_features=n_features,
            mode=mode,
            som_size=check_positive_int(som_size, "som_size"),
            neighborhood=int(check_range(neighborhood, 0, 16, "neighborhood")),
            iterations=check_positive_int(iterations, "iterations"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        total = sum(self.level_channels)
        d = (
            min(total, 100 if total <= 448 else 550)
            if n_features is None
            else check_positive_int(n_features, "n_features")
        )
        if d > total:
            raise ConfigError(
                f"expected `n_features` <= {total} (channels of layers {self._hparams['layers']}), got {d}"
            )
        self._hparams["n_features"] = d
        gen = torch.Generator().manual_seed(int(seed))
        self.register_buffer("channel_idx", torch.randperm(total, generator=gen)[:d].sort().values)
        # position mode: h×w×M×d; shared mode: 1×1×M×d.
        self.register_buffer("nodes", torch.empty(0, 0, 0, d))
        self._stored: list[torch.Tensor] = []

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w×d embeddings (PaDiM's: nearest-upsampled levels, random channel subset)."""
        x = concat_levels(self.levels(images))
        return x.index_select(1, self.channel_idx.to(x.device)).permute(0, 2, 3, 1).contiguous()

    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        emb = self.embed(batch["image"])
        if self._stored and emb.shape[1:] != self._stored[0].shape[1:]:
            raise ValueError("padim-som: all training images must have the same size")
        self._stored.append(emb.half())  # float16 storage: 2 bytes per value

    @torch.no_grad()
    def fit_end(self) -> None:
        if not self._stored:
            raise RuntimeError("padim-som: fit_end() called before any fit_batch()")
        emb = torch.cat(self._stored)  # N×h×w×d, float16
        self._stored = []
        n, h, w, d = emb.shape
        hp = self._hparams
        side, gen = hp["som_size"], torch.Generator().manual_seed(hp["seed"] + 1)
        if hp["mode"] == "shared":
            flat = emb.reshape(1, -1, d).float()
            self.nodes = batch_som(flat, side, hp["iterations"], gen).view(1, 1, side * side, d)
            return
        r = hp["neighborhood"]
        # Each position's samples: its own and its neighbours' embeddings (edge positions replicate).
        padded = F.pad(emb.permute(0, 3, 1, 2).float(), (r, r, r, r), mode="replicate").half()
        win = (2 * r + 1) ** 2
        nodes = torch.empty(h, w, side * side, d, device=emb.device)
        rows = max(1, _BLOCK // max(1, w * n * win * max(d, side * side)))
        for y0 in range(0, h, rows):
            ys = range(y0, min(h, y0 + rows))
            parts = [
                padded[:, :, y + dy, dx : dx + w]
                for y in ys
                for dy in range(2 * r + 1)
                for dx in range(2 * r + 1)
            ]
            # (rows·win)×N×d×w → rows×w×(win·N)×d
            stack = torch.stack(parts).view(len(ys), win, n, d, w).permute(0, 4, 1, 2, 3)
            samples = stack.reshape(len(ys) * w, win * n, d).float()
            nodes[y0 : y0 + len(ys)] = batch_som(samples, side, hp["iterations"], gen).view(len(ys), w, -1, d)
        self.nodes = nodes

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.require_fitted("nodes")
        emb = self.embed(images)
        b, h, w, d = emb.shape
        nodes = self.nodes.to(emb.device)
        if self._hparams["mode"] == "shared":
            dist = torch.cdist(emb.reshape(1, -1, d), nodes.view(1, -1, d)).amin(2).view(b, h, w)
        else:
            if (h, w) != tuple(nodes.shape[:2]):
                raise ValueError(
                    f"padim-som models each position: fitted on a {tuple(nodes.shape[:2])} feature grid "
                    f"(image_size {self.image_size}), got images of size {tuple(images.shape[-2:])}"
                )
            q = emb.permute(1, 2, 0, 3).reshape(h * w, b, d)
            dist = torch.cdist(q, nodes.view(h * w, -1, d)).amin(2).T.reshape(b, h, w)
        amap, score = finish_map(dist, images.shape[-2:], self._hparams["sigma"])
        return Prediction(anomaly_map=amap, score=score)

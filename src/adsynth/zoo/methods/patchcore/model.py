"""PatchCore (Roth et al., CVPR 2022): a coreset memory bank of locally aware patch features.

Fit: mid-level features (layer2 + layer3) of a frozen backbone are averaged over 3×3 neighbourhoods,
brought to a common resolution (layer2's) and a common dimension, collected over all normal training
images and subsampled by greedy k-center coreset selection. Predict: the distance of each test patch to its
nearest memory item is the patch score; the map is upsampled bilinearly and blurred (σ = 4).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.features import FeatureModel
from adsynth.zoo.components.pooling import pool_last_axis
from adsynth.zoo.coreset import greedy_coreset, nearest_distances


@register_model("patchcore")
class PatchCore(FeatureModel):
    """PatchCore: nearest-neighbour distance to a coreset of normal patch features.

    Args:
        image_size: training/inference resolution.
        channels: 1 or 3 (grayscale is replicated for the ImageNet backbone).
        backbone: timm model name (default ``tf_efficientnet_lite0``, ImageNet weights bundled with adsynth;
            the paper's ``wide_resnet50_2.tv_in1k`` with ``--weights`` or a timm cache). With
            ``backbone_from``, the checkpoint's architecture.
        layers: backbone levels to use (2, 3 = layer2, layer3).
        pretrained: load the backbone's ImageNet weights from the local cache.
        weights: a state_dict file for the backbone (instead of the cache).
        backbone_from: a zoo checkpoint (e.g. CutPaste) whose backbone is used instead.
        embed_dim: dimension of a patch feature (None: the paper's 1024, or the layers' total channels
            when fewer, e.g. 384 for ResNet-18).
        patch_size: neighbourhood of the local average (3).
        coreset_ratio: fraction of patches kept in memory (0.1; the paper also reports 0.01 and 0.25).
        projection_dim: random-projection dimension for coreset selection (128).
        num_neighbors: k of the k-NN patch score (1).
        score: "max" (image score = max patch score, as the official code) or "reweight" (the paper's
            re-weighting by the nearest memory item's neighbourhood, Eq. 7).
        reweight_neighbors: b of the paper's re-weighting (its neighbourhood size in the memory bank).
        sigma: Gaussian blur of the upsampled map, in pixels (4).
        seed: seed of the coreset's random projection and start point.
    """

    family = "memory"
    paper = "Roth et al., Towards Total Recall in Industrial Anomaly Detection, CVPR 2022"
    lazy_buffers = ("memory_bank",)
    default_layers = (2, 3)

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        embed_dim: int | None = None,
        patch_size: int = 3,
        coreset_ratio: float = 0.1,
        projection_dim: int = 128,
        num_neighbors: int = 1,
        score: str = "max",
        reweight_neighbors: int = 9,
        sigma: float = 4.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        if score not in ("max", "reweight"):
            raise ConfigError(f"expected `score` to be 'max' or 'reweight', got {score!r}")
        super().__init__(
            image_size,
            channels,
            embed_dim=embed_dim,
            patch_size=check_positive_int(patch_size, "patch_size"),
            coreset_ratio=check_range(coreset_ratio, 1e-6, 1.0, "coreset_ratio"),
            projection_dim=check_positive_int(projection_dim, "projection_dim"),
            num_neighbors=check_positive_int(num_neighbors, "num_neighbors"),
            score=score,
            reweight_neighbors=check_positive_int(reweight_neighbors, "reweight_neighbors"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        embed_dim = self._hparams["embed_dim"]
        self.register_buffer("memory_bank", torch.empty(0, embed_dim))
        self._train_features: list[torch.Tensor] = []

    def derive_hparams(self, channels: list[int], layers: list[int], hparams: dict[str, Any]) -> dict:
        # The paper's 1024 for WRN-50 (512 + 1024 channels); never more than the layers provide.
        dim = hparams["embed_dim"]
        dim = min(1024, sum(channels)) if dim is None else check_positive_int(dim, "embed_dim")
        return {**hparams, "embed_dim": dim}

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Locally aware patch features: B×h×w×D at the resolution of the first used layer."""
        feats = self.levels(images)
        size = feats[0].shape[-2:]
        hp = self._hparams
        dim = hp["embed_dim"]
        parts = []
        for f in feats:
            f = F.avg_pool2d(
                f, hp["patch_size"], stride=1, padding=hp["patch_size"] // 2, count_include_pad=False
            )
            if f.shape[-2:] != size:
                f = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
            # Average-pool the channel axis to a common dimension per layer, then across the layers
            # (adaptive_avg_pool1d's bins, as a matrix product: the same numbers, and exportable).
            parts.append(pool_last_axis(f.permute(0, 2, 3, 1), dim))
        return pool_last_axis(torch.cat(parts, dim=-1), dim)

    # ------------------------------------------------------------------ fit
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        emb = self.embed(batch["image"])
        self._train_features.append(emb.reshape(-1, emb.shape[-1]))

    @torch.no_grad()
    def fit_end(self) -> None:
        if not self._train_features:
            raise RuntimeError("patchcore: fit_end() called before any fit_batch()")
        feats = torch.cat(self._train_features)
        self._train_features = []
        k = max(1, math.ceil(self._hparams["coreset_ratio"] * feats.shape[0]))
        if k < feats.shape[0]:
            gen = torch.Generator().manual_seed(self._hparams["seed"])
            idx = greedy_coreset(feats, k, self._hparams["projection_dim"], gen)
            feats = feats[idx]
        self.memory_bank = feats.contiguous().to(self.memory_bank.device)

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        if self.memory_bank.shape[0] == 0:
            raise RuntimeError("patchcore is not fitted: run fit_batch()/fit_end() (or load a checkpoint)")
        emb = self.embed(images)
        b, h, w, d = emb.shape
        queries = emb.reshape(-1, d)
        memory = self.memory_bank.to(queries.device)
        k = min(self._hparams["num_neighbors"], memory.shape[0])
        dist, idx = nearest_distances(queries, memory, k)
        patch = dist.mean(1).view(b, h * w)
        score, arg = patch.max(1)
        if self._hparams["score"] == "reweight":
            score = score * self._reweight(
                queries.view(b, h * w, d)[torch.arange(b), arg],
                idx.view(b, h * w, k)[torch.arange(b), arg, 0],
                memory,
            )
        amap = F.interpolate(
            patch.view(b, 1, h, w), size=images.shape[-2:], mode="bilinear", align_corners=False
        ).squeeze(1)
        amap = gaussian_blur2d(amap, self._hparams["sigma"])
        return Prediction(anomaly_map=amap.float(), score=score.float())

    def _reweight(self, worst: torch.Tensor, nearest: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Paper Eq. 7: w = 1 − exp‖m_test − m*‖ / Σ_{m ∈ N_b(m*)} exp‖m_test − m‖, for each image's
        most anomalous patch ``worst`` (B×D) whose nearest memory item is ``nearest`` (B indices)."""
        b = min(self._hparams["reweight_neighbors"], memory.shape[0])
        _, hood = nearest_distances(memory[nearest], memory, b)
        d_hood = torch.linalg.vector_norm(worst.unsqueeze(1) - memory[hood], dim=2)
        d_star = torch.linalg.vector_norm(worst - memory[nearest], dim=1)
        return 1.0 - torch.exp(d_star - torch.logsumexp(d_hood, dim=1))

"""CFLOW-AD (Gudovskiy, Ishizaka, Kozuka, WACV 2022): conditional flows per feature level.

Each position's feature vector ("fibre") of each level of the frozen pretrained encoder is mapped by a
conditional normalising flow of ``coupling_blocks`` FrEIA ``AllInOneBlock`` couplings (fully connected
subnets, soft clamping α = 1.9, random rotations between blocks) whose condition is a 2-D sinusoidal
positional encoding of the position (128-d). Training maximises the per-dimension log-likelihood of the
normal fibres: loss = −log σ(log p(x|c) / C) (the reference code's ``log_theta``). Anomaly map: per
level the likelihood exp(log p / C − m_l), m_l the largest per-dimension log-likelihood seen in
training, upsampled bilinearly and summed over levels; anomaly = L − that sum; score: its max.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.distillation import FrozenBackboneModel, combine_maps
from adsynth.zoo.components.flows import (
    build_flow,
    fc_subnet,
    gaussian_log_likelihood,
    positional_encoding_2d,
    run_flow,
)


@register_model("cflow")
class CFlow(FrozenBackboneModel):
    """CFLOW-AD: position-conditioned flows on every feature vector of several backbone levels.

    Args:
        image_size, channels: resolution and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the frozen encoder (default bundled
            ImageNet EfficientNet-Lite0, levels 1-3 = strides 4, 8, 16, the paper's WRN-50 layer1-3
            with ``pool_layers = 3``).
        coupling_blocks: couplings per level (8).
        condition_dim: positional-encoding dimension (128).
        clamp: soft clamping α of the log-scales (1.9).
        fibers_per_step: feature vectors per level drawn at random from each batch for the loss
            (None: all of them; the reference code steps its optimiser every 256 fibres instead).
        seed: seed of the permutations and of the fibre subsets.
        cache_features: reuse the frozen features of each training image across epochs (see
            :class:`~adsynth.zoo.components.distillation.FrozenBackboneModel`).
    """

    family = "flow"
    paper = (
        "Gudovskiy et al., CFLOW-AD: Real-Time Unsupervised Anomaly Detection with Localization, WACV 2022"
    )
    default_epochs = 25
    default_batch_size = 32
    default_lr = 2e-4
    caches_features = True

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        coupling_blocks: int = 8,
        condition_dim: int = 128,
        clamp: float = 1.9,
        fibers_per_step: int | None = None,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        condition_dim = check_positive_int(condition_dim, "condition_dim")
        if condition_dim % 4:
            from adsynth.errors import ConfigError

            raise ConfigError(f"expected `condition_dim` to be a multiple of 4, got {condition_dim}")
        super().__init__(
            image_size,
            channels,
            coupling_blocks=check_positive_int(coupling_blocks, "coupling_blocks"),
            condition_dim=condition_dim,
            clamp=check_range(clamp, 1e-3, 100.0, "clamp"),
            fibers_per_step=None
            if fibers_per_step is None
            else check_positive_int(fibers_per_step, "fibers"),
            seed=int(seed),
            **backbone_options,
        )
        self.flows = nn.ModuleList(
            build_flow(
                (c,),
                coupling_blocks,
                fc_subnet(2.0),
                clamp,
                cond_dims=condition_dim,
                seed=int(seed) + i,
                permute_soft=True,
            )
            for i, c in enumerate(self.feature_channels)
        )
        # Largest per-dimension log-likelihood seen in training, per level: the maps' normalisation.
        self.register_buffer("logp_max", torch.full((len(self.feature_channels),), -1e4))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def _fibers(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B·h·w × C fibres, B·h·w × P positional conditions) of one level's B×C×h×w features."""
        b, c, h, w = feat.shape
        pe = positional_encoding_2d(self._hparams["condition_dim"], h, w).to(feat.device)
        cond = pe.unsqueeze(0).expand(b, -1, -1, -1)
        return feat.permute(0, 2, 3, 1).reshape(-1, c), cond.permute(0, 2, 3, 1).reshape(-1, pe.shape[0])

    def _log_prob(self, i: int, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Per-dimension log-likelihood log p(x|c) / C of fibres ``x``."""
        z, log_det = run_flow(self.flows[i], x, cond)
        return gaussian_log_likelihood(z, log_det) / x.shape[1]

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        feats = self.train_features(batch)
        n = self._hparams["fibers_per_step"]
        gen = torch.Generator().manual_seed(int(self._hparams["seed"]) * 1_000_003 + int(self.step))
        terms = {}
        for i, (layer, feat) in enumerate(zip(self._hparams["layers"], feats, strict=True)):
            x, cond = self._fibers(feat)
            if n is not None and n < len(x):
                idx = torch.randperm(len(x), generator=gen)[:n].to(x.device)
                x, cond = x[idx], cond[idx]
            log_prob = self._log_prob(i, x, cond)
            with torch.no_grad():
                self.logp_max[i] = torch.maximum(self.logp_max[i], log_prob.detach().max())
            terms[f"loss_l{layer}"] = -F.logsigmoid(log_prob).mean()
        self.step += 1
        return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        feats = self.features(images)
        maps = []
        for i, feat in enumerate(feats):
            b, _, h, w = feat.shape
            x, cond = self._fibers(feat)
            log_prob = self._log_prob(i, x, cond).view(b, h, w)
            maps.append(torch.exp((log_prob - self.logp_max[i]).clamp(max=0.0)))
        likelihood = combine_maps(maps, tuple(images.shape[-2:]), "sum")
        amap = len(maps) - likelihood
        return Prediction(anomaly_map=amap.float(), score=amap.flatten(1).amax(1).float())

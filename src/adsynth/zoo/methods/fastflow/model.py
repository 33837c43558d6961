"""FastFlow (Yu et al., arXiv 2111.07677, 2021): 2-D normalising flows on a frozen backbone's features.

Each feature level of the frozen pretrained backbone is layer-normalised (over C×H×W, learned affine)
and mapped by its own flow of ``flow_steps`` FrEIA ``AllInOneBlock`` affine couplings whose subnets are
small fully convolutional networks, alternately 3×3 and 1×1 kernels (the paper's ResNet/WRN setting; 3×3
only with ``conv3x3_only``). Training maximises the likelihood of the normal features under a standard
normal base: loss = Σ_levels mean_batch(½‖z‖² − log|det J|). Anomaly map: per level 1 − exp(−½ mean_c
z²) at each position, upsampled bilinearly and averaged over levels; score: its max.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.distillation import FrozenBackboneModel, combine_maps
from adsynth.zoo.components.flows import build_flow, conv_subnet, run_flow


@register_model("fastflow")
class FastFlow(FrozenBackboneModel):
    """FastFlow: one 2-D flow per feature level of a frozen pretrained backbone.

    Args:
        image_size, channels: resolution (a multiple of the deepest stride; the layer norms are sized by
            it, so predict at this size) and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the frozen backbone (default bundled
            ImageNet EfficientNet-Lite0, levels 1-3 = strides 4, 8, 16, the paper's ResNet layer1-3).
        flow_steps: couplings per level (8).
        hidden_ratio: hidden channels of the subnets / input channels (1.0).
        conv3x3_only: 3×3 kernels in every subnet (the paper's ResNet-18 setting) instead of
            alternating 3×3 / 1×1 (its WRN-50 setting).
        clamp: soft clamping of the couplings' log-scales (2.0).
        weight_decay: of Adam (1e-5; lr 1e-3).
        seed: seed of the flows' channel permutations.
        cache_features: reuse the frozen features of each training image across epochs (see
            :class:`~adsynth.zoo.components.distillation.FrozenBackboneModel`).
    """

    family = "flow"
    paper = (
        "Yu et al., FastFlow: Unsupervised Anomaly Detection and Localization via 2D Normalizing Flows, 2021"
    )
    default_epochs = 500
    default_batch_size = 32
    default_lr = 1e-3
    caches_features = True

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        flow_steps: int = 8,
        hidden_ratio: float = 1.0,
        conv3x3_only: bool = False,
        clamp: float = 2.0,
        weight_decay: float = 1e-5,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            flow_steps=check_positive_int(flow_steps, "flow_steps"),
            hidden_ratio=check_range(hidden_ratio, 1e-3, 64.0, "hidden_ratio"),
            conv3x3_only=bool(conv3x3_only),
            clamp=check_range(clamp, 1e-3, 100.0, "clamp"),
            weight_decay=check_range(weight_decay, 0.0, 1.0, "weight_decay"),
            seed=int(seed),
            **backbone_options,
        )
        self.norms, self.flows = nn.ModuleList(), nn.ModuleList()
        for i, (c, s) in enumerate(zip(self.feature_channels, self.feature_strides, strict=True)):
            if self.image_size % s:
                raise ConfigError(f"expected `image_size` to be a multiple of {s}, got {self.image_size}")
            h = self.image_size // s
            kernels = [3 if conv3x3_only or k % 2 == 0 else 1 for k in range(flow_steps)]
            self.norms.append(nn.LayerNorm([c, h, h]))
            self.flows.append(
                build_flow(
                    (c, h, h),
                    flow_steps,
                    [conv_subnet(k, hidden_ratio) for k in kernels],
                    clamp,
                    seed=int(seed) + i,
                )
            )

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=lr or self.default_lr, weight_decay=self._hparams["weight_decay"])
        return opt, None

    def forward(self, images: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per level ``(z B×C×h×w, log|det J| B)``, in float32."""
        return self._flow(self.features(images), images)

    def _flow(
        self, feats: list[torch.Tensor], images: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if feats[0].shape[-1] != self.norms[0].normalized_shape[-1]:
            raise ValueError(
                f"fastflow's layer norms are sized for image_size {self.image_size}, got images of size "
                f"{tuple(images.shape[-2:])}"
            )
        return [run_flow(flow, norm(f)) for f, norm, flow in zip(feats, self.norms, self.flows, strict=True)]

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        terms = {}
        for layer, (z, log_det) in zip(
            self._hparams["layers"], self._flow(self.train_features(batch), batch["image"]), strict=True
        ):
            terms[f"loss_l{layer}"] = (0.5 * z.flatten(1).pow(2).sum(1) - log_det).mean()
        return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        maps = [1.0 - torch.exp(-0.5 * z.pow(2).mean(1)) for z, _ in self(images)]
        amap = combine_maps(maps, tuple(images.shape[-2:]), "mean")
        return Prediction(anomaly_map=amap.float(), score=amap.flatten(1).amax(1).float())

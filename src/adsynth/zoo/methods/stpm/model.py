"""STPM, Student-Teacher feature Pyramid Matching (Wang, Wu, Cui, Yang, BMVC 2021).

Teacher: the frozen pretrained backbone; student: the same architecture from random initialisation,
trained so that its feature maps at every level match the teacher's after channel-wise L2
normalisation. Loss per level: mean over positions of ½‖t̂ − ŝ‖². Anomaly map: the per-position
½‖t̂ − ŝ‖² of each level, upsampled bilinearly and multiplied over the levels; score: its max.
"""

from __future__ import annotations

from typing import Any

import torch

from adsynth._validation import check_range
from adsynth.zoo.backbones import create_backbone
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.distillation import (
    FrozenBackboneModel,
    combine_maps,
    normalized_sq_distance_maps,
)


@register_model("stpm")
class STPM(FrozenBackboneModel):
    """STPM: feature-pyramid matching of a randomly initialised student to a pretrained teacher.

    Args:
        image_size, channels: resolution and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the teacher (default bundled ImageNet
            EfficientNet-Lite0, levels 1-3 = strides 4, 8, 16, the paper's ResNet-18 layer1-3); the
            student is the same architecture, randomly initialised.
        momentum, weight_decay: of the reference code's SGD (lr 0.4, momentum 0.9, weight decay 1e-4).
        cache_features: reuse the frozen features of each training image across epochs (see
            :class:`~adsynth.zoo.components.distillation.FrozenBackboneModel`).
    """

    family = "distillation"
    paper = "Wang et al., Student-Teacher Feature Pyramid Matching for Anomaly Detection, BMVC 2021"
    default_epochs = 100
    default_batch_size = 32
    default_lr = 0.4
    caches_features = True

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            momentum=check_range(momentum, 0.0, 1.0, "momentum"),
            weight_decay=check_range(weight_decay, 0.0, 1.0, "weight_decay"),
            **backbone_options,
        )
        hp = self._hparams
        self.student = create_backbone(hp["backbone"], hp["layers"], pretrained=False)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        hp = self._hparams
        opt = torch.optim.SGD(
            self.student.parameters(),
            lr=lr or self.default_lr,
            momentum=hp["momentum"],
            weight_decay=hp["weight_decay"],
        )
        return opt, None

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per-level B×h×w maps of ½‖t̂ − ŝ‖², shallowest level first."""
        return normalized_sq_distance_maps(self.features(images), self.student(images))

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        teacher = self.train_features(batch)
        maps = normalized_sq_distance_maps(teacher, self.student(batch["image"]))
        terms = {f"loss_l{layer}": m.mean() for layer, m in zip(self._hparams["layers"], maps, strict=True)}
        return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        amap = combine_maps(self(images), tuple(images.shape[-2:]), "product")
        return Prediction(anomaly_map=amap.float(), score=amap.flatten(1).amax(1).float())

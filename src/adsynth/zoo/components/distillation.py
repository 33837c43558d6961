"""Feature plumbing of the methods that learn on top of a frozen pretrained network: the frozen-backbone
base class (distillation and normalising-flow methods alike), per-level feature distances and the way
per-level maps are combined.

:class:`FrozenBackboneModel` owns the backbone (its options are
:class:`~adsynth.zoo.components.backbone_model.BackboneModel`'s). Its features are computed under
``torch.no_grad()`` with the backbone in eval mode, and :meth:`FrozenBackboneModel.train` keeps it there:
the trainer calls ``model.train()`` before every epoch, which would otherwise let BatchNorm layers update
their running statistics from the training batches (and change the teacher the student imitates).

Example:
    >>> import torch
    >>> a = [torch.ones(1, 4, 2, 2)]
    >>> cosine_distance_maps(a, [-a[0]])[0].unique()
    tensor([2.])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from adsynth.zoo.components.backbone_model import BackboneModel


class FrozenBackboneModel(BackboneModel):
    """A gradient-trained model on a frozen pretrained feature extractor ``self.backbone``.

    The backbone options (``backbone``, ``layers``, ``pretrained``, ``weights``, ``backbone_from``,
    ``weights_source``, ``cache_features``) are
    :class:`~adsynth.zoo.components.backbone_model.BackboneModel`'s; a subclass passes them on as
    ``**backbone_options`` and sets ``caches_features = True`` when it reads :meth:`train_features`
    (valid because the frozen backbone is deterministic and the method trains on the plain normal images:
    no synthesis, no rotation).

    Attributes:
        backbone: the :class:`~adsynth.zoo.backbones.Backbone`, ``requires_grad`` off.
        feature_channels: channels of each requested level.
        feature_strides: stride of each requested level.
    """

    needs_pretrained = True
    frozen_backbone = True

    def __init__(self, image_size: int = 256, channels: int = 3, **hparams: Any) -> None:
        super().__init__(image_size, channels, **hparams)
        self.backbone.eval()
        self.feature_channels: list[int] = list(self.backbone.feature_info.channels())
        self.feature_strides: list[int] = list(self.backbone.feature_info.reduction())
        self._cache: dict[int, list[torch.Tensor]] = {}

    def train(self, mode: bool = True) -> FrozenBackboneModel:
        """Set the trainable parts' mode; the frozen backbone always stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The frozen backbone's feature maps of ``images`` (B×C×H×W in [0, 1]), float32, no graph."""
        self.check_images(images, self.channels)
        self.backbone.eval()
        return [f.float() for f in self.backbone(images)]

    def train_features(self, batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """:meth:`features` of a training batch, from the feature cache when ``cache_features`` is on
        and every image of the batch (by ``batch["index"]``) has been seen."""
        if not self._hparams.get("cache_features") or "index" not in batch:
            return self.features(batch["image"])
        keys = [int(i) for i in batch["index"]]
        if all(k in self._cache for k in keys):
            return [
                torch.stack([self._cache[k][lvl] for k in keys]) for lvl in range(len(self.feature_channels))
            ]
        feats = self.features(batch["image"])
        for row, k in enumerate(keys):
            self._cache[k] = [f[row].clone() for f in feats]
        return feats


def cosine_distance_maps(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Per-level, per-position ``1 − cos(a, b)`` over channels: a list of B×h×w maps in [0, 2]."""
    return [1.0 - F.cosine_similarity(x.float(), y.float(), dim=1) for x, y in zip(a, b, strict=True)]


def normalized_sq_distance_maps(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Per-level, per-position ``½‖â − b̂‖²`` of the channel-wise L2-normalised features (STPM): B×h×w
    maps in [0, 2]."""
    return [
        0.5 * (F.normalize(x.float(), dim=1) - F.normalize(y.float(), dim=1)).pow(2).sum(1)
        for x, y in zip(a, b, strict=True)
    ]


def combine_maps(maps: Sequence[torch.Tensor], size: tuple[int, int], mode: str = "sum") -> torch.Tensor:
    """Upsample per-level B×h×w maps bilinearly to ``size`` and combine them: ``"sum"``, ``"mean"`` or
    ``"product"``; returns B×H×W float32."""
    up = [
        F.interpolate(m.float().unsqueeze(1), size=size, mode="bilinear", align_corners=False).squeeze(1)
        for m in maps
    ]
    out = up[0]
    for m in up[1:]:
        out = out * m if mode == "product" else out + m
    return out / len(up) if mode == "mean" else out


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """``Conv(k, stride, same padding, no bias) → BatchNorm → ReLU``."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """A ResNet basic block (two 3×3 conv-BN, identity or 1×1 projection shortcut); ``stride`` 2 halves
    the resolution."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(cin, cout, 3, stride),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.short = (
            nn.Identity()
            if cin == cout and stride == 1
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.short(x))

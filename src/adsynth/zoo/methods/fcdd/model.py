"""FCDD (Liznerski et al., ICLR 2021): a fully convolutional one-class classifier whose output is the map.

The network is a pretrained CNN trunk (the bundled ImageNet ``tf_efficientnet_lite0``; the paper's VGG-11-BN)
with its stem and first stage frozen, cut at stride 8, and a final 1×1 convolution; its output ``y`` becomes
the heat map ``A = sqrt(y² + 1) − 1`` (pseudo-Huber). Training is outlier exposure with synthetic defects
(the paper: confetti noise; here any synth recipe, default ``noise``): normal pixels are pulled to the
centre (``A``), the pixels of a synthetic defect pushed away (``−log(1 − exp(−A))``), the pixel-wise
hypersphere-classifier loss of the paper with the defect masks as ground-truth maps. Predict: ``A`` is
upsampled to the input by a transposed Gaussian (the paper's receptive-field upsampling, σ = 12 px at
224 px, scaled with the side); image score = mean of ``A`` (the paper's), or its max.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.backbone_model import BackboneModel
from adsynth.zoo.components.modes import eval_mode
from adsynth.zoo.components.oneclass import freeze_early_layers, hsc_loss, pseudo_huber, receptive_upsample

SCORES = ("mean", "max")


@register_model("fcdd")
class FCDD(BackboneModel):
    """Fully convolutional data description with synthetic outlier exposure.

    Args:
        image_size: training/inference resolution (a multiple of 16).
        channels: 1 or 3 (grayscale is replicated for the ImageNet trunk).
        backbone: timm model name (default the bundled ``tf_efficientnet_lite0``).
        pretrained / weights / backbone_from: where the trunk's weights come from (the paper: ImageNet).
        width: channels of the 3×3 convolution before the final 1×1 (the paper's VGG head: 128).
        freeze_early: freeze the stem and first stage of the trunk (the paper freezes the early layers).
        sigma: σ of the Gaussian upsampling in pixels (None: 12 px at 224 px, scaled with the side).
        score: image score, ``"mean"`` (paper) or ``"max"`` of the heat map.

    Example:
        >>> m = FCDD(image_size=64, backbone="resnet18", pretrained=False).eval()
        >>> m.predict(torch.rand(2, 3, 64, 64)).anomaly_map.shape
        torch.Size([2, 64, 64])
    """

    family = "one-class"
    paper = "Liznerski et al., Explainable Deep One-Class Classification, ICLR 2021"
    needs_pretrained = True
    uses_synthetic = True
    default_recipe = "noise"
    default_epochs = 200
    default_batch_size = 16
    default_lr = 1e-3
    layers_option = False  # the trunk is cut at stride 8: levels 2 and 3 feed the head

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        width: int = 128,
        freeze_early: bool = True,
        sigma: float | None = None,
        score: str = "mean",
        **backbone_options: Any,
    ) -> None:
        image_size = check_positive_int(image_size, "image_size")
        if image_size % 16:
            raise ConfigError(f"expected `image_size` to be a multiple of 16 for fcdd, got {image_size}")
        if score not in SCORES:
            raise ConfigError(f"expected `score` to be one of {', '.join(SCORES)}, got {score!r}")
        if sigma is not None:
            sigma = check_range(sigma, 0.0, 1e3, "sigma")
        super().__init__(
            image_size,
            channels,
            width=check_positive_int(width, "width"),
            freeze_early=bool(freeze_early),
            sigma=sigma,
            score=score,
            **backbone_options,
        )
        if freeze_early:
            freeze_early_layers(self.backbone.body, self.backbone.feature_info.module_name()[0])
        c2, c3 = self.backbone.feature_info.channels()[1:]
        self.head = nn.Sequential(
            nn.Conv2d(c2 + c3, int(width), 3, padding=1),
            nn.BatchNorm2d(int(width)),
            nn.ReLU(inplace=True),
            nn.Conv2d(int(width), 1, 1),
        )
        self.sigma = 12.0 * image_size / 224 if sigma is None else float(sigma)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w heat map ``A`` at stride 8."""
        _, f2, f3 = self.backbone(images)
        f3 = F.interpolate(f3, size=f2.shape[-2:], mode="bilinear", align_corners=False)
        return pseudo_huber(self.head(torch.cat([f2, f3], 1))[:, 0])

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        """SGD (momentum 0.9, Nesterov, weight decay 1e-4) with ×0.1 steps at 50 % and 75 % of the epochs."""
        params = [p for p in self.parameters() if p.requires_grad]
        opt = torch.optim.SGD(
            params, lr=lr or self.default_lr, momentum=0.9, nesterov=True, weight_decay=1e-4
        )
        epochs = int(epochs or self.default_epochs)
        milestones = sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})
        return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images, aug = batch["image"], batch["aug_image"]
        self.check_images(images, self.channels)
        b = images.shape[0]
        heat = self(torch.cat([images, aug]))
        mask = batch["aug_mask"].float().view(b, 1, *images.shape[-2:])
        # The defect's share of each output cell: a soft target on the heat map's grid.
        target = F.adaptive_avg_pool2d(mask, heat.shape[-2:])[:, 0]
        target = torch.cat([torch.zeros_like(target), target])
        loss = hsc_loss(heat, target)
        return {
            "loss": loss,
            "heat_normal": heat[:b].mean().detach(),
            "heat_defect": (heat[b:] * target[b:]).sum().detach() / target[b:].sum().clamp_min(1e-6),
        }

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        with eval_mode(self):
            heat = self(images).float()
        amap = receptive_upsample(heat, tuple(images.shape[-2:]), self.sigma)
        score = heat.flatten(1).mean(1) if self._hparams["score"] == "mean" else heat.flatten(1).amax(1)
        return Prediction(anomaly_map=amap.float(), score=score.float())

"""NSA (Schlüter et al., ECCV 2022): a segmentation network trained on Poisson-blended synthetic defects.

Training pairs come from the synth recipe (default ``poisson``: patches of another normal image,
resized and Poisson-blended, METHODS §3.1). The target is NSA's ``logistic-intensity`` map: inside the
defect mask, ``1 / (1 + exp(−k (m − x0)))`` of the disk-median ``m`` of the absolute change (grey
levels), so that a patch that barely changed the image is not asked to be found. The network is the
zoo's U-Net (the paper: a ResNet-18 encoder with a transposed-ResNet decoder, from scratch) with a sigmoid
output, trained with binary cross-entropy; Adam with cosine annealing to 1e-6 as in the paper.
Predict: the output is the anomaly map; image score = its mean (the paper's), or the max.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.modes import eval_mode
from adsynth.zoo.components.oneclass import logistic_intensity_target
from adsynth.zoo.components.unet import UNet, check_unet_size

SCORES = ("mean", "max")


@register_model("nsa")
class NSA(AnomalyModel):
    """U-Net regressing NSA's soft defect map.

    Args:
        image_size: side of the square input, a multiple of ``2**depth``.
        channels: 1 or 3.
        base_width: width of the U-Net's first stage (64 for the classic U-Net).
        depth: max-pool stages of the U-Net.
        logistic_k, logistic_x0: slope and midpoint (grey levels) of the logistic target; the paper's
            defaults (1/6, 20) (MVTec textures mostly (1/3, 7)).
        score: image score, ``"mean"`` (paper) or ``"max"`` of the map.

    Example:
        >>> m = NSA(image_size=32, base_width=4, depth=2).eval()
        >>> m.predict(torch.rand(2, 3, 32, 32)).anomaly_map.shape
        torch.Size([2, 32, 32])
    """

    family = "self-supervised"
    paper = "Schlüter et al., Natural Synthetic Anomalies for Self-Supervised Anomaly Detection, ECCV 2022"
    uses_synthetic = True
    default_recipe = "poisson"
    default_epochs = 320
    default_batch_size = 64
    default_lr = 1e-3

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        base_width: int = 64,
        depth: int = 4,
        logistic_k: float = 1 / 6,
        logistic_x0: float = 20.0,
        score: str = "mean",
    ) -> None:
        depth = check_positive_int(depth, "depth")
        check_unet_size(int(image_size), depth)
        if score not in SCORES:
            raise ConfigError(f"expected `score` to be one of {', '.join(SCORES)}, got {score!r}")
        super().__init__(
            image_size,
            channels,
            base_width=check_positive_int(base_width, "base_width"),
            depth=depth,
            logistic_k=check_range(logistic_k, 1e-6, 1e3, "logistic_k"),
            logistic_x0=check_range(logistic_x0, -255.0, 255.0, "logistic_x0"),
            score=score,
        )
        self.net = UNet(self.channels, 1, width=int(base_width), depth=depth)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """B×1×H×W defect probability map."""
        return self.net(images)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        opt = torch.optim.Adam(self.parameters(), lr=lr or self.default_lr)
        t_max = max(1, int(epochs or self.default_epochs))
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max, eta_min=1e-6)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        image, aug = batch["image"], batch["aug_image"]
        self.check_images(aug, self.channels)
        hp = self._hparams
        target = logistic_intensity_target(image, aug, batch["aug_mask"], hp["logistic_k"], hp["logistic_x0"])
        out = self(aug).float().clamp(1e-6, 1 - 1e-6)
        loss = F.binary_cross_entropy(out, target)
        return {"loss": loss, "target_mean": target.mean().detach()}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        with eval_mode(self):
            amap = self(images).float()[:, 0]
        score = amap.flatten(1).mean(1) if self._hparams["score"] == "mean" else amap.flatten(1).amax(1)
        return Prediction(anomaly_map=amap, score=score)

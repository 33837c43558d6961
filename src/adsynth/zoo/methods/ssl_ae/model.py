"""Self-supervised restoration: an autoencoder trained to turn synthetic defects back into the clean image.

The network is DRAEM's reconstructive sub-network (an encoder-decoder without skip connections); the
training pair is ``(aug_image, image)``, made online by a synth recipe, and the loss is L2 + (1 − SSIM).
Unlike a plain autoencoder it never learns the identity on defects: it learns to *remove* them, so at test
time a real defect stands out in ``|x − f(x)|``. This is DRAEM without its discriminative network, the
regime shared by the reconstruction-by-restoration family (denoising autoencoders, RIAD-like inpainting
with a mask of ones, NSA/CutPaste-trained restorers).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.draem import ReconstructiveSubNetwork, init_weights
from adsynth.zoo.components.losses import ssim_loss, ssim_map
from adsynth.zoo.components.maps import check_map_options, image_scores, smoothed_map

MAPS = ("l1", "ssim")


@register_model("ssl-ae")
class SelfSupervisedAE(AnomalyModel):
    """Restoration autoencoder trained on synthetic defects.

    Args:
        image_size: side of the square input, a multiple of 16.
        channels: 1 or 3.
        base_width: width of DRAEM's reconstructive network (DRAEM: 128).
        anomaly_map: ``"l1"`` (``|x − f(x)|`` averaged over channels) or ``"ssim"`` (``1 − SSIM``).
        score: ``"max"`` of the smoothed map, or ``"mean"`` of the raw map.
        map_sigma: Gaussian σ (pixels) of the anomaly map; default ``image_size / 64``.

    Example:
        >>> m = SelfSupervisedAE(image_size=64, base_width=8).eval()
        >>> m.predict(torch.rand(2, 3, 64, 64)).anomaly_map.shape
        torch.Size([2, 64, 64])
    """

    family: ClassVar[str] = "self-supervised"
    paper: ClassVar[str] = "restoration of synthetic defects (DRAEM's reconstructive network, ICCV 2021)"
    uses_synthetic: ClassVar[bool] = True
    default_recipe: ClassVar[str | None] = "mixed"
    default_epochs: ClassVar[int] = 700
    default_batch_size: ClassVar[int] = 8
    default_lr: ClassVar[float] = 1e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        base_width: int = 128,
        anomaly_map: str = "l1",
        score: str = "max",
        map_sigma: float | None = None,
    ) -> None:
        sigma = check_map_options(int(image_size), score, map_sigma)
        if int(base_width) < 1:
            raise ConfigError(f"expected `base_width` to be a positive int, got {base_width}")
        if anomaly_map not in MAPS:
            raise ConfigError(f"expected `anomaly_map` to be one of {', '.join(MAPS)}, got {anomaly_map!r}")
        super().__init__(
            image_size,
            channels,
            base_width=int(base_width),
            anomaly_map=anomaly_map,
            score=score,
            map_sigma=map_sigma,
        )
        self.map_kind = anomaly_map
        self.score_kind = score
        self.map_sigma = sigma
        self.restorer = ReconstructiveSubNetwork(self.channels, int(base_width))
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The restored image of ``x``."""
        return self.restorer(x)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        opt = torch.optim.Adam(self.parameters(), lr=lr or self.default_lr)
        epochs = epochs or self.default_epochs
        # DRAEM's schedule: ×0.2 at 80 % and 90 % of the epochs.
        milestones = sorted({max(1, int(epochs * 0.8)), max(1, int(epochs * 0.9))})
        return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.2)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        rec, target = self(batch["aug_image"]), batch["image"]
        l2 = F.mse_loss(rec.float(), target.float())
        ss = ssim_loss(rec, target)
        return {"loss": l2 + ss, "l2": l2, "ssim": ss}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        rec = self(images).float()
        if self.map_kind == "ssim":
            error = 1.0 - ssim_map(rec, images.float())
        else:
            error = (rec - images.float()).abs().mean(dim=1)
        amap = smoothed_map(error, self.map_sigma)
        return Prediction(anomaly_map=amap, score=image_scores(error, amap, self.score_kind))

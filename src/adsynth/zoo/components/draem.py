"""DRAEM's parts (Zavrtanik, Kristan, Skočaj, ICCV 2021): its two sub-networks, initialisation and loss,
and :class:`DraemModel`, the whole method as a builder for ``draem`` and its variants (``draem-sspcab``).

The reconstructive sub-network (an encoder-decoder without skip connections) is trained to remove
synthetic anomalies; the discriminative sub-network (a U-Net with skips) sees the input next to its
reconstruction and segments the anomalous pixels. The reconstructive network alone is also ssl-ae's
restorer.

Example:
    >>> import torch
    >>> ReconstructiveSubNetwork(3, width=4)(torch.rand(1, 3, 32, 32)).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adsynth._validation import check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction
from adsynth.zoo.components.blur import mean_filter2d
from adsynth.zoo.components.losses import focal_loss, ssim_loss

__all__ = [
    "DiscriminativeSubNetwork",
    "DraemModel",
    "ReconstructiveSubNetwork",
    "draem_loss",
    "init_weights",
]


def conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def double_conv(cin: int, cout: int, mid: int | None = None) -> nn.Sequential:
    """(Conv3×3-BN-ReLU) × 2."""
    mid = cout if mid is None else mid
    return nn.Sequential(*conv_bn_relu(cin, mid), *conv_bn_relu(mid, cout))


def up_conv(cin: int, cout: int) -> nn.Sequential:
    """Bilinear ×2 upsampling (align_corners=True, as in DRAEM) then Conv3×3-BN-ReLU."""
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), *conv_bn_relu(cin, cout)
    )


class ReconstructiveSubNetwork(nn.Module):
    """Encoder 5 blocks (w, 2w, 4w, 8w, 8w) with 4 max-pools; decoder 4 up-blocks; no skips; linear output."""

    def __init__(self, channels: int = 3, width: int = 128) -> None:
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            double_conv(channels, w),
            nn.MaxPool2d(2),
            double_conv(w, 2 * w),
            nn.MaxPool2d(2),
            double_conv(2 * w, 4 * w),
            nn.MaxPool2d(2),
            double_conv(4 * w, 8 * w),
            nn.MaxPool2d(2),
            double_conv(8 * w, 8 * w),
        )
        self.decoder = nn.Sequential(
            up_conv(8 * w, 8 * w),
            double_conv(8 * w, 4 * w, mid=8 * w),
            up_conv(4 * w, 4 * w),
            double_conv(4 * w, 2 * w, mid=4 * w),
            up_conv(2 * w, 2 * w),
            double_conv(2 * w, w, mid=2 * w),
            up_conv(w, w),
            double_conv(w, w),
            nn.Conv2d(w, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class DiscriminativeSubNetwork(nn.Module):
    """U-Net: encoder of 6 blocks (c, 2c, 4c, 8c, 8c, 8c), 5 max-pools; decoder with a skip at every level."""

    def __init__(self, in_channels: int = 6, out_channels: int = 2, width: int = 64) -> None:
        super().__init__()
        c = width
        widths = (c, 2 * c, 4 * c, 8 * c, 8 * c, 8 * c)
        self.blocks = nn.ModuleList()
        cin = in_channels
        for cout in widths:
            self.blocks.append(double_conv(cin, cout))
            cin = cout
        # Each decoder level upsamples to `out` channels, concatenates the encoder block of the same
        # resolution (`skip`) and merges both back to `out` channels.
        self.ups = nn.ModuleList()
        self.merges = nn.ModuleList()
        cin = widths[-1]
        for out, skip in zip((8 * c, 4 * c, 2 * c, c, c), reversed(widths[:-1]), strict=True):
            self.ups.append(up_conv(cin, out))
            self.merges.append(double_conv(out + skip, out))
            cin = out
        self.head = nn.Conv2d(cin, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.blocks):
            x = block(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, merge in zip(self.ups, self.merges, strict=True):
            x = merge(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def init_weights(m: nn.Module) -> None:
    """DRAEM's initialisation: conv weights N(0, 0.02); BatchNorm weights N(1, 0.02), biases 0."""
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def draem_loss(
    rec: torch.Tensor, target: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor, gamma: float = 2.0
) -> dict[str, torch.Tensor]:
    """``MSE(rec, target) + (1 − SSIM(rec, target)) + Focal(softmax(logits), mask)``, all weights 1.

    Args:
        rec: B×C×H×W reconstruction of the augmented image.
        target: B×C×H×W clean image.
        logits: B×2×H×W segmentation logits.
        mask: B×1×H×W (or B×H×W) 0/1 mask of the synthetic anomaly.
        gamma: focal-loss focusing parameter.

    Returns:
        ``loss`` and its terms ``l2``, ``ssim``, ``focal``.
    """
    l2 = F.mse_loss(rec.float(), target.float())
    ss = ssim_loss(rec, target)
    focal = focal_loss(logits.float().softmax(dim=1), (mask > 0.5).long(), gamma=gamma)
    return {"loss": l2 + ss + focal, "l2": l2, "ssim": ss, "focal": focal}


class DraemModel(AnomalyModel):
    """DRAEM, unregistered: the builder that ``draem`` and ``draem-sspcab`` register thin subclasses of.

    Args:
        image_size: side of the square input, a multiple of 32 (paper: 256).
        channels: 1 or 3.
        base_width: width of the reconstructive network (paper: 128); the discriminative network uses
            half of it (paper: 64). Small widths make CPU runs and tests practical.
        smooth_kernel: mean-filter size of the image score ``max(avg_pool(map))`` (paper: 21).
        smooth_map: also return the smoothed map as the anomaly map (the reference code returns the
            raw softmax map and only smooths for the score).
        focal_gamma: γ of the focal loss (paper: 2).
        rotate_prob: probability of the training rotation of the normal image (reference code: 0.3).

    Example:
        >>> import torch
        >>> m = DraemModel(image_size=64, base_width=8).eval()
        >>> p = m.predict(torch.rand(1, 3, 64, 64))
        >>> p.anomaly_map.shape, p.score.shape
        (torch.Size([1, 64, 64]), torch.Size([1]))
    """

    family: ClassVar[str] = "self-supervised"
    paper: ClassVar[str] = "Zavrtanik, Kristan, Skočaj, ICCV 2021"
    uses_synthetic: ClassVar[bool] = True
    default_recipe: ClassVar[str | None] = "draem"
    default_epochs: ClassVar[int] = 700
    default_batch_size: ClassVar[int] = 8
    default_lr: ClassVar[float] = 1e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        base_width: int = 128,
        smooth_kernel: int = 21,
        smooth_map: bool = False,
        focal_gamma: float = 2.0,
        rotate_prob: float = 0.3,
    ) -> None:
        rotate_prob = check_range(rotate_prob, 0, 1, "rotate_prob")
        if image_size < 32 or image_size % 32:
            raise ConfigError(f"expected `image_size` to be a multiple of 32, got {image_size}")
        if int(base_width) < 2:
            raise ConfigError(f"expected `base_width` to be an int >= 2, got {base_width}")
        if int(smooth_kernel) < 1:
            raise ConfigError(f"expected `smooth_kernel` to be a positive int, got {smooth_kernel}")
        super().__init__(
            image_size,
            channels,
            base_width=int(base_width),
            smooth_kernel=int(smooth_kernel),
            smooth_map=bool(smooth_map),
            focal_gamma=float(focal_gamma),
            rotate_prob=float(rotate_prob),
        )
        self.rotate_prob = float(rotate_prob)
        self.smooth_kernel = int(smooth_kernel)
        self.smooth_map = bool(smooth_map)
        self.focal_gamma = float(focal_gamma)
        self.reconstructive = ReconstructiveSubNetwork(self.channels, int(base_width))
        self.discriminative = DiscriminativeSubNetwork(2 * self.channels, 2, max(1, int(base_width) // 2))
        self.apply(init_weights)

    def train_rotation(self) -> tuple[float, float] | None:
        # DRAEM's loader rotates the normal image itself by U(-90, 90) degrees with p = 0.3 (black
        # corners) before synthesising; the rotated image is also the reconstruction target.
        return (self.rotate_prob, 90.0) if self.rotate_prob > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction and segmentation logits (B×2×H×W) of ``x``."""
        rec = self.reconstructive(x)
        return rec, self.discriminative(torch.cat([rec, x], dim=1))

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        opt = torch.optim.Adam(self.parameters(), lr=lr or self.default_lr)
        epochs = epochs or self.default_epochs
        # Milestones at 80% and 90% of training, stepped once per epoch, as in train_DRAEM.py.
        milestones = sorted({max(1, int(epochs * 0.8)), max(1, int(epochs * 0.9))})
        return opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.2)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # The discriminative input is not detached: the focal loss also trains the reconstructor.
        rec, logits = self(batch["aug_image"])
        return draem_loss(rec, batch["image"], logits, batch["aug_mask"], gamma=self.focal_gamma)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        _, logits = self(images)
        amap = logits.float().softmax(dim=1)[:, 1]
        smoothed = mean_filter2d(amap, self.smooth_kernel, count_include_pad=True)
        return Prediction(
            anomaly_map=smoothed if self.smooth_map else amap, score=smoothed.flatten(1).amax(1)
        )

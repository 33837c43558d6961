"""Split-brain autoencoder as an anomaly-detection proxy task.

Zhang, Isola, Efros, "Split-Brain Autoencoders: Unsupervised Learning by Cross-Channel Prediction",
CVPR 2017. The input is split into two complementary groups X₁, X₂; one sub-network predicts X₂ from X₁,
the other X₁ from X₂. Colour images are split as in the paper into Lab's L and ab. A gray image has one
channel, so its split is spatial: two complementary checkerboards of ``cell``×``cell`` squares, each
predicted from the other (every pixel belongs to exactly one group, as with channels). The anomaly map is
the cross-prediction error of both halves: on normal data each half is predictable from the other, on a
defect the learned relation breaks.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.maps import check_map_options, image_scores, smoothed_map
from adsynth.zoo.components.restoration import checkerboard, masked_mse, rgb_to_lab
from adsynth.zoo.components.unet import UNet, check_unet_size

SPLITS = ("auto", "lab", "checkerboard")


@register_model("split-brain")
class SplitBrain(AnomalyModel):
    """Two U-Nets, each predicting the other's group of the input.

    Args:
        image_size: side of the square input, a multiple of ``2**depth`` and of 16.
        channels: 1 or 3.
        split: ``"lab"`` (L ↔ ab, colour only), ``"checkerboard"`` (two complementary checkerboards of
            ``cell`` px squares, any channels) or ``"auto"``: lab for colour, checkerboard for gray.
        cell: side (pixels) of a checkerboard square; default ``image_size / 16``.
        base_width: width of each U-Net's first stage.
        depth: max-pool stages of each U-Net.
        score: ``"max"`` of the smoothed map or ``"mean"`` of the raw map.
        map_sigma: Gaussian σ (pixels) of the map; default ``image_size / 64``.

    Example:
        >>> m = SplitBrain(image_size=32, channels=1, base_width=4, depth=2).eval()
        >>> m.predict(torch.rand(2, 1, 32, 32)).anomaly_map.shape
        torch.Size([2, 32, 32])
    """

    family: ClassVar[str] = "self-supervised"
    paper: ClassVar[str] = "Zhang, Isola, Efros, Split-Brain Autoencoders, CVPR 2017"
    default_epochs: ClassVar[int] = 100
    default_batch_size: ClassVar[int] = 16
    default_lr: ClassVar[float] = 1e-3

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        split: str = "auto",
        cell: int | None = None,
        base_width: int = 32,
        depth: int = 4,
        score: str = "max",
        map_sigma: float | None = None,
    ) -> None:
        if int(depth) < 1:
            raise ConfigError(f"expected `depth` to be a positive int, got {depth}")
        check_unet_size(int(image_size), int(depth))
        sigma = check_map_options(int(image_size), score, map_sigma)
        if int(base_width) < 1:
            raise ConfigError(f"expected `base_width` to be a positive int, got {base_width}")
        if split not in SPLITS:
            raise ConfigError(f"expected `split` to be one of {', '.join(SPLITS)}, got {split!r}")
        if split == "lab" and channels != 3:
            raise ConfigError(f"expected `split` 'lab' only for colour images (channels=3), got {channels}")
        side = int(cell) if cell is not None else max(1, int(image_size) // 16)
        if side < 1 or side > int(image_size) // 2:
            raise ConfigError(f"expected `cell` to be in [1, image_size / 2], got {cell}")
        super().__init__(
            image_size,
            channels,
            split=split,
            cell=cell,
            base_width=int(base_width),
            depth=int(depth),
            score=score,
            map_sigma=map_sigma,
        )
        self.split = ("lab" if channels == 3 else "checkerboard") if split == "auto" else split
        self.cell = side
        self.score_kind = score
        self.map_sigma = sigma
        width, depth = int(base_width), int(depth)
        if self.split == "lab":
            self.net_a = UNet(1, 2, width, depth)  # L → ab
            self.net_b = UNet(2, 1, width, depth)  # ab → L
        else:
            self.net_a = UNet(self.channels, self.channels, width, depth)  # cells A → cells B
            self.net_b = UNet(self.channels, self.channels, width, depth)  # cells B → cells A

    def groups(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two groups in [0, 1]: (L/100, (ab+128)/255) for lab; for checkerboard the image with the
        other group's cells set to 0 (group A: the even cells)."""
        if self.split == "lab":
            lab = rgb_to_lab(x)
            return lab[:, :1] / 100, (lab[:, 1:] + 128) / 255
        a = checkerboard(x.shape[-2], x.shape[-1], self.cell, device=x.device)
        return x * a, x * ~a

    def cross_errors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """B×H×W squared errors (mean over the predicted channels): of net_a's prediction of group B and
        of net_b's of group A. For checkerboard each is zero outside the pixels it predicts."""
        ga, gb = self.groups(x.float())
        pred_b, pred_a = self.net_a(ga).float(), self.net_b(gb).float()
        if self.split == "lab":
            return (pred_b - gb).pow(2).mean(dim=1), (pred_a - ga).pow(2).mean(dim=1)
        a = checkerboard(x.shape[-2], x.shape[-1], self.cell, device=x.device)
        x = x.float()
        err_b = (pred_b - x).pow(2).mean(dim=1) * ~a
        err_a = (pred_a - x).pow(2).mean(dim=1) * a
        return err_b, err_a

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"].float()
        ga, gb = self.groups(x)
        pred_b, pred_a = self.net_a(ga), self.net_b(gb)
        if self.split == "lab":
            loss_b = (pred_b.float() - gb).pow(2).mean()
            loss_a = (pred_a.float() - ga).pow(2).mean()
        else:
            a = checkerboard(x.shape[-2], x.shape[-1], self.cell, device=x.device)
            loss_b, loss_a = masked_mse(pred_b, x, ~a), masked_mse(pred_a, x, a)
        return {"loss": loss_a + loss_b, "loss_a": loss_a, "loss_b": loss_b}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        err_b, err_a = self.cross_errors(images)
        # lab: both halves predict every pixel, so the map is their mean; checkerboard: each pixel is
        # predicted by one half (the other's error is 0 there), so the sum is that half's error.
        error = (err_a + err_b) / 2 if self.split == "lab" else err_a + err_b
        amap = smoothed_map(error, self.map_sigma)
        return Prediction(anomaly_map=amap, score=image_scores(error, amap, self.score_kind))

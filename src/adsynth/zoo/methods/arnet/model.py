"""ARNet: erase attributes of the image (colour, orientation) and learn to restore the original.

Ye, Huang, Cao, Li, Zhang, Lu, "Attribute Restoration Framework for Anomaly Detection", IEEE TMM 2020
(arXiv 1911.10676). Training: the input is the image with its colour removed (gray) and turned by a
random multiple of 90°; a U-Net restores the upright colour image (MSE). Test: the restoration error of
every erasure (the four rotations), averaged, is the anomaly map. The paper's image score is its mean
(``score="mean"``); the default is the maximum of the smoothed map, as for the zoo's other restorers.
A normal image's attributes are predictable from its content, an anomalous region's are not.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.batching import batch_rngs
from adsynth.zoo.components.maps import check_map_options, image_scores, smoothed_map
from adsynth.zoo.components.restoration import rotate_each, to_gray
from adsynth.zoo.components.unet import UNet, check_unet_size

ATTRIBUTES = ("color", "orientation")


@register_model("arnet")
class ARNet(AnomalyModel):
    """Attribute restoration network.

    Args:
        image_size: side of the square input, a multiple of ``2**depth``.
        channels: 1 or 3. Gray images have no colour to erase: only ``orientation`` applies.
        attributes: the erased attributes, a subset of ``("color", "orientation")``; None: every one
            that applies (colour images: both, the paper's choice for colour data; gray: orientation).
        base_width: width of the U-Net's first stage.
        depth: max-pool stages of the U-Net.
        score: ``"max"`` of the smoothed map, or ``"mean"`` of the raw map (the paper's image score, the
            restoration error of the whole image).
        map_sigma: Gaussian σ (pixels) of the map; default ``image_size / 64``.
        seed: seeds the training rotations (with the step counter and the dataset row).

    Example:
        >>> m = ARNet(image_size=32, channels=1, base_width=4, depth=2).eval()
        >>> m.predict(torch.rand(2, 1, 32, 32)).anomaly_map.shape
        torch.Size([2, 32, 32])
    """

    family: ClassVar[str] = "self-supervised"
    paper: ClassVar[str] = "Ye et al., Attribute Restoration Framework for Anomaly Detection, IEEE TMM 2020"
    default_epochs: ClassVar[int] = 100
    default_batch_size: ClassVar[int] = 16
    default_lr: ClassVar[float] = 1e-3

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        attributes: tuple[str, ...] | list[str] | None = None,
        base_width: int = 32,
        depth: int = 4,
        score: str = "max",
        map_sigma: float | None = None,
        seed: int = 0,
    ) -> None:
        if int(depth) < 1:
            raise ConfigError(f"expected `depth` to be a positive int, got {depth}")
        check_unet_size(int(image_size), int(depth))
        sigma = check_map_options(int(image_size), score, map_sigma)
        if int(base_width) < 1:
            raise ConfigError(f"expected `base_width` to be a positive int, got {base_width}")
        attrs = self._check_attributes(attributes, int(channels))
        super().__init__(
            image_size,
            channels,
            attributes=None if attributes is None else list(attrs),
            base_width=int(base_width),
            depth=int(depth),
            score=score,
            map_sigma=map_sigma,
            seed=int(seed),
        )
        self.attributes = attrs
        self.score_kind = score
        self.map_sigma = sigma
        self.seed = int(seed)
        in_ch = 1 if "color" in attrs else self.channels
        self.restorer = UNet(in_ch, self.channels, int(base_width), int(depth))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    @staticmethod
    def _check_attributes(attributes, channels: int) -> tuple[str, ...]:
        if attributes is None:
            return ATTRIBUTES if channels == 3 else ("orientation",)
        if isinstance(attributes, str):
            attributes = (attributes,)
        attrs = tuple(dict.fromkeys(attributes))
        bad = [a for a in attrs if a not in ATTRIBUTES]
        if not attrs or bad:
            raise ConfigError(
                f"expected `attributes` to be a non-empty subset of {ATTRIBUTES}, got {attributes!r}"
            )
        if "color" in attrs and channels == 1:
            raise ConfigError("expected `attributes` without 'color' for gray images (channels=1)")
        return tuple(a for a in ATTRIBUTES if a in attrs)

    @property
    def quarter_turns(self) -> tuple[int, ...]:
        """The rotations of the erasure set: all four with ``orientation``, else the identity."""
        return (0, 1, 2, 3) if "orientation" in self.attributes else (0,)

    def erase(self, x: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
        """The network's input: ``x`` gray (with ``color``) and turned by ``quarter_turns`` × 90°."""
        x = to_gray(x) if "color" in self.attributes else x
        return rotate_each(x, quarter_turns) if "orientation" in self.attributes else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The restored (upright, coloured) image of an erased input."""
        return self.restorer(x)

    def training_turns(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """One random rotation per sample, from (seed, step, dataset row): resumes exactly."""
        rngs = batch_rngs(self.seed, int(self.steps), batch)
        turns = [int(r.integers(len(self.quarter_turns))) for r in rngs]
        return torch.tensor([self.quarter_turns[t] for t in turns])

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        turns = self.training_turns(batch)
        self.steps += 1
        return {"loss": F.mse_loss(self(self.erase(x, turns)).float(), x.float())}

    def restoration_errors(self, images: torch.Tensor) -> torch.Tensor:
        """B×R×H×W squared restoration error (mean over channels), one slice per rotation of the set."""
        errs = []
        for k in self.quarter_turns:
            turns = torch.full((images.shape[0],), k)
            errs.append((self(self.erase(images, turns)).float() - images.float()).pow(2).mean(dim=1))
        return torch.stack(errs, dim=1)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        error = self.restoration_errors(images).mean(dim=1)
        amap = smoothed_map(error, self.map_sigma)
        return Prediction(anomaly_map=amap, score=image_scores(error, amap, self.score_kind))

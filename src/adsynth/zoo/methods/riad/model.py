"""RIAD (Zavrtanik, Kristan, Skočaj, Pattern Recognition 2021): reconstruction by inpainting.

A U-Net inpaints an image from which one of ``n`` disjoint random sets of k×k grid cells is hidden. For
every image the ``n`` complementary masks are run, and each pixel of the reconstruction is taken from the
pass in which it was hidden. The loss is L2 + MSGMS + SSIM of that recombined image; the anomaly map is
the MSGMS difference averaged over the cell sizes k ∈ {2, 4, 8, 16}, then Gaussian-smoothed.

The U-Net (:class:`~adsynth.zoo.components.unet.UNet`) is shared with SMAI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch

from adsynth._validation import check_positive_int
from adsynth.errors import ConfigError
from adsynth.synth.masks import make_riad_masks
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.batching import batch_rngs, chunked
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.msgms import msgms_map
from adsynth.zoo.components.unet import UNet, check_unet_size
from adsynth.zoo.methods.riad.loss import riad_loss


def default_sigma(image_size: int) -> float:
    """The reference's σ = 7 at 256 px, scaled with the image side."""
    return 7.0 * image_size / 256


@register_model("riad")
class Riad(AnomalyModel):
    """RIAD.

    Args:
        image_size: side of the square input, a multiple of 16 (paper: 256).
        channels: 1 or 3.
        base_width: width of the first U-Net stage (64 in the reference U-Net); small widths for CPU runs.
        k_values: grid cell sides in pixels (paper: 2, 4, 8, 16); training draws one per image, inference
            averages the maps of all of them.
        n_masks: number of disjoint cell sets, i.e. inpainting passes per image (paper: 3).
        smooth_sigma: σ of the Gaussian filter on the map (default 7 at 256 px, scaled with the size).
        seed: seeds the training masks (with the step and the dataset row) and the fixed inference masks.
        infer_batch: masked copies per forward pass at inference: the n·|K| copies of every image of
            the batch are stacked along the batch dimension and run in chunks of this size.

    Example:
        >>> import torch
        >>> m = Riad(image_size=64, base_width=4).eval()
        >>> m.predict(torch.rand(1, 3, 64, 64)).anomaly_map.shape
        torch.Size([1, 64, 64])
    """

    family: ClassVar[str] = "inpainting"
    paper: ClassVar[str] = "Zavrtanik, Kristan, Skočaj, Pattern Recognition 2021"
    default_epochs: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 4
    default_lr: ClassVar[float] = 1e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        base_width: int = 64,
        k_values: Sequence[int] = (2, 4, 8, 16),
        n_masks: int = 3,
        smooth_sigma: float | None = None,
        seed: int = 0,
        infer_batch: int = 24,
    ) -> None:
        check_unet_size(int(image_size))
        if isinstance(k_values, (int, str)) or not len(k_values) or any(int(k) < 1 for k in k_values):
            raise ConfigError(
                f"expected `k_values` to be a non-empty list of positive ints, got {k_values!r}"
            )
        for name, v in (("base_width", base_width), ("n_masks", n_masks), ("infer_batch", infer_batch)):
            check_positive_int(v, name)
        if smooth_sigma is not None and float(smooth_sigma) < 0:
            raise ConfigError(f"expected `smooth_sigma` to be >= 0, got {smooth_sigma}")
        super().__init__(
            image_size,
            channels,
            base_width=int(base_width),
            k_values=[int(k) for k in k_values],
            n_masks=int(n_masks),
            smooth_sigma=None if smooth_sigma is None else float(smooth_sigma),
            seed=int(seed),
            infer_batch=int(infer_batch),
        )
        self.k_values = [int(k) for k in k_values]
        self.n_masks = int(n_masks)
        self.smooth_sigma = default_sigma(self.image_size) if smooth_sigma is None else float(smooth_sigma)
        self.seed = int(seed)
        self.infer_batch = int(infer_batch)
        self.net = UNet(self.channels, self.channels, int(base_width))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    def inpaint(self, images: torch.Tensor, hidden: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
        """Recombined inpainting: ``Σ_i net(x · (1 − hidden_i)) · hidden_i``.

        Args:
            images: B×C×H×W.
            hidden: B×n×H×W (or n×H×W, the same masks for every image) 0/1 masks; every pixel hidden in
                exactly one of the n.
            chunk: masked copies per forward pass (None: all B·n at once).

        Returns:
            B×C×H×W: each pixel from the pass in which it was hidden.
        """
        b, c, h, w = images.shape
        hidden = hidden.to(images.dtype).expand(b, -1, h, w)
        n = hidden.shape[1]
        masked = (images[:, None] * (1 - hidden[:, :, None])).reshape(b * n, c, h, w)
        out = chunked(self.net, masked, chunk) if chunk else self.net(masked)
        return (out.reshape(b, n, c, h, w) * hidden[:, :, None]).sum(dim=1)

    def training_masks(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """B×n×H×W disjoint 0/1 masks covering the image, one set per sample.

        By default RIAD's grid masks (one k drawn per sample). With a synth recipe (``adsynth train
        --recipe``), the batch carries ``aug_mask`` and a sample whose recipe mask is not empty hides that
        region in one pass and the rest in another (the two complementary sets, padded with empty masks
        up to n); a sample left normal by the recipe keeps grid masks. The recipe's pixel values are not
        used: the masked input is always built from the clean image."""
        x = batch["image"]
        h, w = x.shape[-2:]
        rngs = batch_rngs(self.seed, int(self.steps), batch)
        n = max(self.n_masks, 2) if "aug_mask" in batch else self.n_masks
        out = np.zeros((len(rngs), n, h, w), np.uint8)
        aug = batch["aug_mask"].reshape(len(rngs), h, w).cpu().numpy() > 0.5 if "aug_mask" in batch else None
        for i, r in enumerate(rngs):
            k = self.k_values[int(r.integers(len(self.k_values)))]
            if aug is not None and aug[i].any():
                out[i, 0], out[i, 1] = aug[i], ~aug[i]
            else:
                out[i, : self.n_masks] = make_riad_masks(h, w, k, self.n_masks, r)
        return torch.from_numpy(out).to(x.device)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        hidden = self.training_masks(batch)
        self.steps += 1
        return riad_loss(self.inpaint(x, hidden), x)

    def inference_masks(self, h: int, w: int) -> torch.Tensor:
        """The fixed |K|·n×H×W masks of inference: one partition per k from ``(seed, k)``."""
        masks = [
            make_riad_masks(h, w, k, self.n_masks, np.random.default_rng([self.seed, k]))
            for k in self.k_values
        ]
        return torch.from_numpy(np.concatenate(masks))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        b, _, h, w = images.shape
        nk = len(self.k_values)
        hidden = self.inference_masks(h, w).to(images.device).view(1, nk, self.n_masks, h, w)
        # Each (image, k) pair becomes one "image" with its n masks, so all n·|K| passes of a batch of
        # images go through the network in a few large forward batches.
        x = images[:, None].expand(b, nk, *images.shape[1:]).reshape(b * nk, *images.shape[1:])
        hid = hidden.expand(b, nk, self.n_masks, h, w).reshape(b * nk, self.n_masks, h, w)
        rec = self.inpaint(x, hid, chunk=self.infer_batch)
        amap = msgms_map(x, rec).view(b, nk, h, w).mean(dim=1)
        smoothed = gaussian_blur2d(amap, self.smooth_sigma)
        return Prediction(anomaly_map=smoothed.float(), score=smoothed.flatten(1).amax(dim=1).float())

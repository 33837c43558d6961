"""SMAI (Li et al., BMVC 2021): superpixel masking and inpainting.

Training: a random subset of the image's SLIC superpixels is hidden (the online synth recipe
``superpixel``, run in the DataLoader workers) and a U-Net restores it from the rest; the loss is L2 + SSIM
of the image with the inpainted superpixels pasted in.

Inference: the superpixels are split into a few sets such that no two neighbouring superpixels are in the
same set (a greedy colouring of their adjacency graph), so every superpixel is hidden exactly once and
always with visible neighbours. One inpainting pass per set; each pixel's error is taken from the pass
that hid it, then smoothed (or averaged over its superpixel).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from adsynth._validation import check_positive_int
from adsynth.errors import ConfigError
from adsynth.synth.superpixel import slic_segments
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.batching import chunked
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.losses import ssim_loss
from adsynth.zoo.components.unet import UNet, check_unet_size

MAP_REDUCE = ("pixel", "superpixel")


def colour_superpixels(labels: np.ndarray) -> np.ndarray:
    """Greedy colouring of the 4-adjacency graph of a label map (labels ``0..L−1``).

    Returns an int array of L colours ``0..K−1``: neighbouring superpixels get different colours, so the
    K sets ``{l : colour[l] == k}`` partition the superpixels and none hides a neighbour of another.

    Example:
        >>> colour_superpixels(np.array([[0, 0, 1], [2, 2, 1]])).tolist()
        [0, 1, 2]
    """
    n = int(labels.max()) + 1
    pairs = np.concatenate(
        [
            np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
            np.stack([labels[:-1].ravel(), labels[1:].ravel()], 1),
        ]
    )
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for a, b in np.unique(np.sort(pairs, axis=1), axis=0).tolist():
        neighbours[a].add(b)
        neighbours[b].add(a)
    colour = np.full(n, -1, np.int64)
    # Most-connected first (Welsh-Powell order) keeps the number of sets, i.e. of passes, small.
    for lab in sorted(range(n), key=lambda i: (-len(neighbours[i]), i)):
        used = {int(colour[j]) for j in neighbours[lab]}
        colour[lab] = next(k for k in range(n + 1) if k not in used)
    return colour


def superpixel_mask_sets(labels: np.ndarray) -> np.ndarray:
    """The K×H×W bool masks of inference: set k hides the superpixels of colour k (every pixel in one)."""
    colour = colour_superpixels(labels)
    return colour[labels][None] == np.arange(int(colour.max()) + 1)[:, None, None]


@register_model("smai")
class Smai(AnomalyModel):
    """SMAI.

    Args:
        image_size: side of the square input, a multiple of 16.
        channels: 1 or 3.
        base_width: width of the first U-Net stage.
        n_segments, compactness, slic_size: SLIC settings of inference, the defaults of the ``superpixel``
            generator that makes the training masks.
        map_reduce: ``"pixel"`` (per-pixel squared error of the pass that hid the pixel, smoothed) or
            ``"superpixel"`` (that error averaged over each superpixel).
        smooth_sigma: σ of the Gaussian filter on the map (default 4 at 256 px, scaled with the size).
        infer_batch: masked copies per forward pass at inference.

    Example:
        >>> import torch
        >>> m = Smai(image_size=64, base_width=4).eval()
        >>> m.predict(torch.rand(1, 3, 64, 64)).anomaly_map.shape
        torch.Size([1, 64, 64])
    """

    family: ClassVar[str] = "inpainting"
    paper: ClassVar[str] = "Li et al., BMVC 2021 (superpixel masking and inpainting)"
    uses_synthetic: ClassVar[bool] = True
    default_recipe: ClassVar[str | None] = "superpixel"
    default_epochs: ClassVar[int] = 300
    default_batch_size: ClassVar[int] = 8
    default_lr: ClassVar[float] = 1e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        base_width: int = 64,
        n_segments: int = 50,
        compactness: float = 10.0,
        slic_size: int | None = 40,
        map_reduce: str = "pixel",
        smooth_sigma: float | None = None,
        infer_batch: int = 16,
    ) -> None:
        check_unet_size(int(image_size))
        if map_reduce not in MAP_REDUCE:
            raise ConfigError(
                f"expected `map_reduce` to be one of {', '.join(MAP_REDUCE)}, got {map_reduce!r}"
            )
        for name, v in (("base_width", base_width), ("n_segments", n_segments), ("infer_batch", infer_batch)):
            check_positive_int(v, name)
        if slic_size is not None and int(slic_size) < 2:
            raise ConfigError(f"expected `slic_size` to be an int >= 2 or None, got {slic_size}")
        if float(compactness) <= 0 or (smooth_sigma is not None and float(smooth_sigma) < 0):
            raise ConfigError("expected `compactness` > 0 and `smooth_sigma` >= 0")
        super().__init__(
            image_size,
            channels,
            base_width=int(base_width),
            n_segments=int(n_segments),
            compactness=float(compactness),
            slic_size=None if slic_size is None else int(slic_size),
            map_reduce=map_reduce,
            smooth_sigma=None if smooth_sigma is None else float(smooth_sigma),
            infer_batch=int(infer_batch),
        )
        self.n_segments, self.compactness = int(n_segments), float(compactness)
        self.slic_size = None if slic_size is None else int(slic_size)
        self.map_reduce = map_reduce
        self.smooth_sigma = self.image_size / 64 if smooth_sigma is None else float(smooth_sigma)
        self.infer_batch = int(infer_batch)
        self.net = UNet(self.channels + 1, self.channels, int(base_width))

    def inpaint(self, images: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """U-Net output for ``images`` (B×C×H×W) with ``hidden`` (B×1×H×W, 1 = hidden) zeroed and given
        as an extra channel."""
        hidden = hidden.to(images.dtype)
        return self.net(torch.cat([images * (1 - hidden), hidden], dim=1))

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # The masked input is rebuilt from the clean image, so any recipe's fill is irrelevant: only the
        # hidden region (aug_mask) is used.
        x, m = batch["image"], batch["aug_mask"].to(batch["image"].dtype)
        out = self.inpaint(x, m)
        rec = out * m + x * (1 - m)
        l2 = F.mse_loss(rec.float(), x.float())
        ss = ssim_loss(rec, x)
        return {"loss": l2 + ss, "l2": l2, "ssim": ss}

    def segments(self, images: torch.Tensor) -> list[np.ndarray]:
        """SLIC label maps (H×W int32) of a batch of B×C×H×W images in [0, 1], computed on the CPU."""
        arr = (
            (images.detach().float().clamp(0, 1) * 255)
            .round()
            .to(torch.uint8)
            .permute(0, 2, 3, 1)
            .cpu()
            .numpy()
        )
        return [slic_segments(a, self.n_segments, self.compactness, self.slic_size) for a in arr]

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        b, c, h, w = images.shape
        labels = self.segments(images)
        sets = [torch.from_numpy(superpixel_mask_sets(lab)) for lab in labels]
        counts = [len(s) for s in sets]
        hidden = torch.cat(sets).to(images.device, images.dtype)[:, None]
        x = images.repeat_interleave(torch.tensor(counts, device=images.device), dim=0)
        both = torch.cat([x, hidden], dim=1)
        out = chunked(lambda t: self.inpaint(t[:, :c], t[:, c:]), both, self.infer_batch)
        err = (out.float() - x.float()).pow(2).mean(dim=1) * hidden[:, 0]
        # Each pixel is hidden in exactly one pass of its image: summing the passes picks that one.
        per_image = torch.stack([e.sum(dim=0) for e in err.split(counts)])
        if self.map_reduce == "superpixel":
            per_image = torch.stack(
                [_superpixel_mean(m, lab) for m, lab in zip(per_image, labels, strict=True)]
            )
        amap = gaussian_blur2d(per_image, self.smooth_sigma).float()
        return Prediction(anomaly_map=amap, score=amap.flatten(1).amax(dim=1))


def _superpixel_mean(amap: torch.Tensor, labels: np.ndarray) -> torch.Tensor:
    lab = torch.from_numpy(labels.astype(np.int64)).to(amap.device).ravel()
    n = int(lab.max()) + 1
    sums = torch.zeros(n, device=amap.device, dtype=amap.dtype).index_add_(0, lab, amap.ravel())
    cnt = torch.bincount(lab, minlength=n).clamp_min(1).to(amap.dtype)
    return (sums / cnt)[lab].view_as(amap)

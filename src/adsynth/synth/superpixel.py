"""SMAI superpixel masking: the ``superpixel`` generator (Li et al., BMVC 2021; METHODS §4.3).

SMAI segments each image into SLIC superpixels, hides a random subset and trains an inpainting network
to restore them; at test time it hides the superpixels one at a time. The superpixel count and the
masked fraction are not published (METHODS §4.3 flags them); the defaults here are ours.

The mask is the hidden region, a union of whole superpixels (``mask_is_changed_pixels = False``: a hidden
pixel can already have its fill value).
SLIC runs on a copy downscaled to ``slic_size`` px on its longer side (the labels are upscaled back), which
keeps the generator fast enough for online use; ``slic_size=None`` segments at full resolution.
"""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np

from adsynth._validation import check_interval, check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator
from adsynth.synth.masks import check_fill, fill_masked, fill_values


def slic_segments(
    image: np.ndarray,
    n_segments: int = 50,
    compactness: float = 10.0,
    max_side: int | None = 40,
    max_num_iter: int = 5,
) -> np.ndarray:
    """SLIC superpixels of an H×W×C uint8 image as an H×W int32 label map with labels ``0 .. L-1``.

    ``skimage.segmentation.slic`` runs on a copy downscaled (area interpolation) so that its longer side is
    at most ``max_side`` (None: full size); the labels come back with nearest-neighbour upscaling, which
    keeps every label. Colour images are segmented in CIELAB converted by OpenCV from float RGB, in the
    same units as scikit-image's own conversion, so ``compactness`` means what it means there.

    Example:
        >>> img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        >>> seg = slic_segments(img, n_segments=16)
        >>> seg.shape, seg.dtype.name, int(seg.min())
        ((64, 64), 'int32', 0)
    """
    from skimage.segmentation import slic

    h, w, c = image.shape
    small = image
    if max_side is not None and max(h, w) > max_side:
        f = max_side / max(h, w)
        size = (max(1, int(round(w * f))), max(1, int(round(h * f))))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        small = small if small.ndim == 3 else small[:, :, None]
    if c == 3:
        feats = cv2.cvtColor(small.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2LAB)
    else:
        feats = small.astype(np.float32) * np.float32(100 / 255)  # grey on the L* scale
    labels = slic(
        feats,
        n_segments=n_segments,
        compactness=compactness,
        max_num_iter=max_num_iter,
        start_label=0,
        convert2lab=False,
        channel_axis=-1,
    ).astype(np.int32)
    # SLIC's connectivity step can leave gaps in the numbering: make the labels 0..L-1.
    _, labels = np.unique(labels, return_inverse=True)
    labels = labels.reshape(small.shape[:2]).astype(np.int32)
    if labels.shape != (h, w):
        labels = cv2.resize(labels, (w, h), interpolation=cv2.INTER_NEAREST)
    return labels


def segment_means(pixels: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """(n_labels, C) uint8: the rounded mean colour of every segment.

    Args:
        pixels: K×C (or H×W×C) pixel values.
        labels: their K (or H×W) segment labels in ``0 .. n_labels-1``.
        n_labels: number of segments (segments without pixels get 0).

    Example:
        >>> px = np.array([[0], [10], [7]], np.uint8)
        >>> segment_means(px, np.array([0, 0, 1]), 2).ravel().tolist()
        [5, 7]
    """
    c = pixels.shape[-1]
    flat = labels.ravel()
    px = pixels.reshape(-1, c)
    counts = np.maximum(np.bincount(flat, minlength=n_labels), 1).astype(np.float64)
    sums = [np.bincount(flat, weights=px[:, i], minlength=n_labels) for i in range(c)]
    return np.rint(np.stack(sums, axis=1) / counts[:, None]).astype(np.uint8)


@register_generator("superpixel")
class SuperpixelMask(Generator):
    """Hide a random subset of SLIC superpixels (SMAI, METHODS §4.3).

    Per call: SLIC labels the image (``n_segments``, ``compactness``; deterministic, see
    :meth:`segments`), then ``count`` of its ``L`` superpixels are drawn without replacement and filled.
    ``count`` is uniform in the ``count`` range when one is given, else ``max(1, round(f · L))`` with ``f``
    uniform in ``fraction``; it is clipped to ``[1, L]``.

    §4.3 gives no superpixel count or masked fraction (SMAI published no code); the defaults are ours:
    about 50 superpixels (≈ 36×36 px at 256 px), 5–20 % of them hidden.

    **Mask.** The mask is the hidden region, the union of the chosen superpixels, which is what an
    inpainting loss needs. With ``fill="mean"`` (or a constant) some hidden pixels can already have their
    fill value and do not change, so ``mask_is_changed_pixels = False`` (changed pixels ⊆ mask).

    Args:
        n_segments: approximate number of superpixels (SLIC's ``n_segments``).
        compactness: SLIC's colour/space trade-off (higher: more square superpixels).
        fraction: (min, max) fraction of the superpixels hidden.
        count: (min, max) number of superpixels hidden, or None to use ``fraction``.
        fill: grey level 0–255, ``"mean"`` (each hidden superpixel takes its own mean colour: a flat,
            "erased" look) or ``"random"`` (one random colour per call).
        slic_size: longer side SLIC runs at (≤ 64 keeps the generator online-fast; None: full resolution,
            much slower).
        max_num_iter: SLIC's k-means iterations.
        p: probability inside an albumentations pipeline.

    Example:
        >>> img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
        >>> res = SuperpixelMask().synthesize(img, rng=0)
        >>> bool(res.mask.any()), len(res.params["segments"]) >= 1
        (True, True)
    """

    family: ClassVar[str] = "masking"
    paper: ClassVar[str] = "SMAI: Li et al., superpixel masking and inpainting, BMVC 2021"
    description: ClassVar[str] = "SLIC superpixels, a random subset hidden (filled)"
    mask_is_changed_pixels: ClassVar[bool] = False

    def __init__(
        self,
        n_segments: int = 50,
        compactness: float = 10.0,
        fraction: tuple[float, float] = (0.05, 0.2),
        count: tuple[int, int] | None = None,
        fill: int | str = 0,
        slic_size: int | None = 40,
        max_num_iter: int = 5,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.n_segments = check_positive_int(n_segments, "n_segments")
        self.compactness = check_range(compactness, 1e-3, 1e4, "compactness")
        self.fraction = check_interval(fraction, 0.0, 1.0, "fraction")
        if count is None:
            self.count = None
        else:
            lo, hi = check_interval(count, 1, 1_000_000, "count")
            if lo != int(lo) or hi != int(hi):
                raise ConfigError(f"expected `count` to be a pair of ints, got {count!r}")
            self.count = (int(lo), int(hi))
        self.fill = check_fill(fill)
        self.slic_size = None if slic_size is None else check_positive_int(slic_size, "slic_size")
        self.max_num_iter = check_positive_int(max_num_iter, "max_num_iter")

    def config(self) -> dict[str, Any]:
        return {
            "n_segments": self.n_segments,
            "compactness": self.compactness,
            "fraction": list(self.fraction),
            "count": None if self.count is None else list(self.count),
            "fill": self.fill,
            "slic_size": self.slic_size,
            "max_num_iter": self.max_num_iter,
        }

    def segments(self, image: np.ndarray) -> np.ndarray:
        """The superpixel label map this generator uses for an H×W×C image (deterministic)."""
        return slic_segments(image, self.n_segments, self.compactness, self.slic_size, self.max_num_iter)

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        labels = self.segments(image)
        n_labels = int(labels.max()) + 1
        params: dict[str, Any] = {"n_labels": n_labels}
        if self.count is None:
            frac = float(rng.uniform(*self.fraction))
            params["fraction"] = frac
            count = max(1, int(round(frac * n_labels)))
        else:
            count = int(rng.integers(self.count[0], self.count[1] + 1))
        count = min(n_labels, count)
        chosen = np.sort(rng.choice(n_labels, size=count, replace=False))
        lut = np.zeros(n_labels, bool)
        lut[chosen] = True
        mask = lut[labels]
        if self.fill == "mean":
            # Hidden superpixels are hidden whole, so their means need only the masked pixels.
            idx = np.flatnonzero(mask)
            hidden_labels = labels.ravel()[idx]
            pixels = np.take(image.reshape(-1, image.shape[2]), idx, axis=0)
            value = segment_means(pixels, hidden_labels, n_labels)[hidden_labels]
            params["fill"] = "mean"
        else:
            value = fill_values(image, self.fill, rng)
            params["fill"] = value.tolist()
        params["segments"] = chosen.tolist()
        out = fill_masked(image, mask, value)
        return SynthResult(out, mask.astype(np.uint8), 1, params)

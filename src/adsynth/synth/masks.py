"""Masking generators for inpainting methods: RIAD grid masks (``grid``) and SCADN stripes (``stripes``).

Inpainting methods hide part of a normal image and learn to restore it. Here the hidden region is the
"defect": it is filled with a constant (``fill``) and returned as the mask. The mask is the hidden
*region*, not the changed pixels (a hidden pixel that already had the fill value is still hidden, and an
inpainting loss needs it): ``mask_is_changed_pixels = False``.

* **grid** (RIAD, METHODS §4.1): a cell side ``k`` drawn from ``cell_sizes`` (default {2, 4, 8, 16}), the
  k×k cells randomly split into ``n`` disjoint sets (default 3), one set hidden. Every pixel belongs to
  exactly one set (:func:`make_riad_masks` returns the ``n`` complementary masks that RIAD's trainer and
  scorer use). ``mode="region"`` hides a few random rectangles instead.
* **stripes** (SCADN, METHODS §4.2): stripes of width 1/4, 1/8 or 1/16 of the side, vertical or
  horizontal, in one of two phases, i.e. one of SCADN's 12 training masks; each covers half the image.
  :func:`make_stripe_masks` returns the whole bank SCADN scores with. SCADN fills with white (255).

The mask kernels below are pure functions of their arguments (explicit ``rng``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from adsynth._validation import check_interval, check_positive_int
from adsynth.errors import ConfigError
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator

ORIENTATIONS = ("vertical", "horizontal")
GRID_MODES = ("grid", "region")
FILL_NAMES = ("mean", "random")

# ------------------------------------------------------------------ kernels


def grid_partition(h: int, w: int, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """H×W int32 map giving, for every pixel, which of ``n`` disjoint sets of k×k cells it belongs to.

    The ``ceil(h/k) × ceil(w/k)`` cells (cut by the border when ``k`` does not divide the size) are
    randomly permuted and dealt round-robin into the ``n`` sets, so set sizes differ by at most one cell
    and set ``i`` is non-empty for every ``i < min(n, number of cells)``.

    Example:
        >>> part = grid_partition(8, 8, 2, 3, np.random.default_rng(0))
        >>> part.shape, sorted(set(part.ravel().tolist()))
        ((8, 8), [0, 1, 2])
    """
    gh, gw = -(-h // k), -(-w // k)
    cells = np.empty(gh * gw, np.int32)
    cells[rng.permutation(gh * gw)] = np.arange(gh * gw, dtype=np.int32) % n
    grid = cells.reshape(gh, gw)
    return np.repeat(np.repeat(grid, k, axis=0), k, axis=1)[:h, :w]


def make_riad_masks(h: int, w: int, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """The ``n`` complementary RIAD masks of one random k×k-cell partition, an (n, H, W) bool array.

    ``masks[i]`` is True on the cells of set ``i``: the pixels hidden in RIAD's i-th inpainting pass
    (RIAD's ``M_i`` is its complement). Every pixel is True in exactly one mask, so
    ``Σ_i f(x · ~masks[i]) · masks[i]`` takes each pixel from the pass in which it was hidden.

    Example:
        >>> m = make_riad_masks(16, 16, 4, 3, np.random.default_rng(0))
        >>> m.shape, bool((m.sum(axis=0) == 1).all())
        ((3, 16, 16), True)
    """
    part = grid_partition(h, w, k, n, rng)
    return part[None] == np.arange(n, dtype=np.int32)[:, None, None]


def stripe_width_px(width: float, side: int) -> int:
    """Stripe width in pixels for a ``width`` given as a fraction of the ``side`` it varies along."""
    return max(1, int(round(width * side)))


def stripe_mask(h: int, w: int, width: int, orientation: str, phase: int) -> np.ndarray:
    """H×W bool stripes ``width`` px wide, vertical (varying along x) or horizontal (along y).

    Stripe ``j`` counted from the left (top) edge is on when ``j % 2 == phase``; phases 0 and 1 are
    complements (SCADN's masks ``j = 0, 1`` vertical and ``j = 2, 3`` horizontal).

    Example:
        >>> stripe_mask(2, 6, 2, "vertical", 0).astype(int).tolist()
        [[1, 1, 0, 0, 1, 1], [1, 1, 0, 0, 1, 1]]
    """
    if orientation == "vertical":
        line = (np.arange(w) // width) % 2 == phase
        return np.broadcast_to(line[None, :], (h, w))
    if orientation == "horizontal":
        line = (np.arange(h) // width) % 2 == phase
        return np.broadcast_to(line[:, None], (h, w))
    raise ValueError(f"unknown stripe orientation {orientation!r}")


def make_stripe_masks(h: int, w: int, widths: Sequence[float] = (0.25, 0.125, 0.0625)) -> np.ndarray:
    """SCADN's mask bank: an (S, 4, H, W) bool array for the S stripe ``widths``.

    Widths are fractions of the side the stripes vary along (SCADN at 512 px: 128, 64 and 32 px). For each
    width the four masks are vertical phase 0, vertical phase 1, horizontal phase 0, horizontal phase 1;
    the two phases of one direction partition the image.

    Example:
        >>> bank = make_stripe_masks(32, 32)
        >>> bank.shape, bool((bank[:, 0] ^ bank[:, 1]).all())
        ((3, 4, 32, 32), True)
    """
    out = np.empty((len(widths), 4, h, w), bool)
    for s, frac in enumerate(widths):
        out[s, 0] = stripe_mask(h, w, stripe_width_px(frac, w), "vertical", 0)
        out[s, 1] = ~out[s, 0]
        out[s, 2] = stripe_mask(h, w, stripe_width_px(frac, h), "horizontal", 0)
        out[s, 3] = ~out[s, 2]
    return out


def random_rectangles(
    h: int, w: int, count: int, scale: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, list[list[int]]]:
    """Union of ``count`` random axis-aligned rectangles inside an H×W image.

    Each rectangle's height and width are drawn independently, uniform in ``scale`` times the image
    height and width (at least 1 px), and its position uniformly so that it lies fully inside the image.
    Returns the H×W bool mask and the boxes ``[y0, x0, y1, x1]`` (end-exclusive).

    Example:
        >>> m, boxes = random_rectangles(32, 32, 2, (0.25, 0.25), np.random.default_rng(0))
        >>> len(boxes), [b[2] - b[0] for b in boxes]
        (2, [8, 8])
    """
    mask = np.zeros((h, w), bool)
    boxes = []
    for _ in range(count):
        rh = min(h, max(1, int(round(rng.uniform(*scale) * h))))
        rw = min(w, max(1, int(round(rng.uniform(*scale) * w))))
        y0 = int(rng.integers(h - rh + 1))
        x0 = int(rng.integers(w - rw + 1))
        mask[y0 : y0 + rh, x0 : x0 + rw] = True
        boxes.append([y0, x0, y0 + rh, x0 + rw])
    return mask, boxes


def fill_masked(image: np.ndarray, mask: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Copy of ``image`` (H×W×C) with the pixels of the H×W bool ``mask`` set to ``value``.

    ``value`` is either C values (one colour for the whole mask) or K×C values, one row per masked pixel
    in row-major order (as ``image[mask]`` lists them).

    Example:
        >>> img = np.zeros((2, 2, 1), np.uint8)
        >>> fill_masked(img, np.eye(2, dtype=bool), np.array([9], np.uint8))[:, :, 0].tolist()
        [[9, 0], [0, 9]]
    """
    out = image.copy()
    # Flat indices: much faster than boolean indexing of a 3-channel image.
    out.reshape(-1, image.shape[2])[np.flatnonzero(mask)] = value
    return out


# ------------------------------------------------------------------ parameter helpers


def check_fill(fill: Any, names: tuple[str, ...] = FILL_NAMES) -> int | str:
    """Validate a fill: a grey level 0–255 (all channels) or one of the named fills ``names``."""
    if isinstance(fill, str):
        if fill not in names:
            raise ConfigError(f"expected `fill` to be a grey level 0-255 or one of {names}, got {fill!r}")
        return fill
    if isinstance(fill, bool) or not isinstance(fill, (int, np.integer)) or not 0 <= fill <= 255:
        raise ConfigError(f"expected `fill` to be a grey level 0-255 or one of {names}, got {fill!r}")
    return int(fill)


def fill_values(image: np.ndarray, fill: int | str, rng: np.random.Generator) -> np.ndarray:
    """The C uint8 fill values for ``image``: a constant grey level, ``"mean"`` (the image's rounded
    per-channel mean) or ``"random"`` (a colour uniform in 0–255 per channel, drawn from ``rng``)."""
    c = image.shape[2]
    if fill == "mean":
        return np.rint(image.reshape(-1, c).mean(axis=0)).astype(np.uint8)
    if fill == "random":
        return rng.integers(0, 256, size=c).astype(np.uint8)
    return np.full(c, fill, np.uint8)


def _choices(values: Any, valid: tuple[Any, ...], name: str) -> tuple[Any, ...]:
    vals = (values,) if isinstance(values, str) else tuple(values)
    if not vals or any(v not in valid for v in vals) or len(set(vals)) != len(vals):
        raise ConfigError(f"expected `{name}` to be a non-empty subset of {valid}, got {values!r}")
    return vals


# ------------------------------------------------------------------ generators


@register_generator("grid")
class GridMask(Generator):
    """RIAD grid mask: one of ``n`` random disjoint sets of k×k cells hidden (METHODS §4.1).

    Per call: ``k`` uniform from ``cell_sizes``, a random partition of the cells into ``n`` sets (drawn
    from a sub-seed ``partition_seed`` recorded in the params, so the partition is reproducible without
    storing thousands of cells: ``make_riad_masks(H, W, k, n, np.random.default_rng(partition_seed))``
    rebuilds all ``n`` masks), and the hidden set ``set`` uniform among the non-empty ones.

    With ``mode="region"`` the hidden region is instead the union of ``count`` random rectangles whose
    sides are ``scale`` times the image sides (:func:`random_rectangles`).

    **Mask.** The mask is the hidden *region*, which is what an inpainting loss needs; a hidden pixel
    that already had the fill value is in the mask although it did not change, so
    ``mask_is_changed_pixels = False`` (the changed pixels are a subset of the mask).

    Args:
        cell_sizes: cell sides ``k`` in pixels to draw from (RIAD: 2, 4, 8, 16).
        n: number of disjoint sets (RIAD: 3).
        fill: grey level 0–255, ``"mean"`` (the image's per-channel mean) or ``"random"`` (a random colour
            per call). RIAD multiplies the image by the mask, i.e. fills with 0.
        mode: ``"grid"`` or ``"region"``.
        count: (min, max) number of rectangles (``mode="region"``).
        scale: (min, max) side of each rectangle as a fraction of the image side (``mode="region"``).
        p: probability inside an albumentations pipeline.

    Example:
        >>> img = np.full((32, 32, 3), 200, np.uint8)
        >>> res = GridMask(cell_sizes=(4,)).synthesize(img, rng=0)
        >>> res.params["k"], bool(res.mask.any()), int(res.image[res.mask > 0].max())
        (4, True, 0)
    """

    family: ClassVar[str] = "masking"
    paper: ClassVar[str] = "RIAD: Zavrtanik, Kristan, Skočaj, Pattern Recognition 2021"
    description: ClassVar[str] = "RIAD grid mask: one of n random disjoint sets of k×k cells hidden"
    mask_is_changed_pixels: ClassVar[bool] = False

    def __init__(
        self,
        cell_sizes: Sequence[int] = (2, 4, 8, 16),
        n: int = 3,
        fill: int | str = 0,
        mode: str = "grid",
        count: tuple[int, int] = (1, 3),
        scale: tuple[float, float] = (0.1, 0.3),
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        if isinstance(cell_sizes, (int, np.integer, str)) or not len(cell_sizes):
            raise ConfigError(
                f"expected `cell_sizes` to be a non-empty list of positive ints, got {cell_sizes!r}"
            )
        self.cell_sizes = tuple(check_positive_int(k, "cell_sizes[]") for k in cell_sizes)
        self.n = check_positive_int(n, "n")
        self.fill = check_fill(fill)
        if mode not in GRID_MODES:
            raise ConfigError(f"expected `mode` to be one of {GRID_MODES}, got {mode!r}")
        self.mode = mode
        lo, hi = check_interval(count, 1, 64, "count")
        if lo != int(lo) or hi != int(hi):
            raise ConfigError(f"expected `count` to be a pair of ints, got {count!r}")
        self.count = (int(lo), int(hi))
        self.scale = check_interval(scale, 0.0, 1.0, "scale")

    def config(self) -> dict[str, Any]:
        return {
            "cell_sizes": list(self.cell_sizes),
            "n": self.n,
            "fill": self.fill,
            "mode": self.mode,
            "count": list(self.count),
            "scale": list(self.scale),
        }

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        h, w = image.shape[:2]
        if self.mode == "grid":
            k = self.cell_sizes[int(rng.integers(len(self.cell_sizes)))]
            seed = int(rng.integers(2**63 - 1))
            part = grid_partition(h, w, k, self.n, np.random.default_rng(seed))
            n_cells = -(-h // k) * -(-w // k)
            hidden = int(rng.integers(min(self.n, n_cells)))
            mask = part == hidden
            params: dict[str, Any] = {
                "mode": "grid",
                "k": k,
                "n": self.n,
                "set": hidden,
                "partition_seed": seed,
            }
        else:
            count = int(rng.integers(self.count[0], self.count[1] + 1))
            mask, boxes = random_rectangles(h, w, count, self.scale, rng)
            params = {"mode": "region", "boxes": boxes}
        value = fill_values(image, self.fill, rng)
        params["fill"] = value.tolist()
        out = fill_masked(image, mask, value)
        return SynthResult(out, mask.astype(np.uint8), 1, params)


@register_generator("stripes")
class StripeMask(Generator):
    """SCADN striped mask: one of the multi-scale stripe masks hidden (METHODS §4.2).

    Per call: a width uniform from ``widths`` (fractions of the side the stripes vary along; SCADN uses
    128, 64 and 32 px at 512 px), an orientation from ``orientations`` and a phase (0: the first stripe
    from the left/top edge is hidden, 1: its complement). With the defaults this is SCADN's training draw,
    uniform over its 12 masks; each covers half the image.

    **Mask.** The mask is the hidden *region* (what SCADN's inpainting loss weights); hidden pixels that
    already had the fill value did not change, so ``mask_is_changed_pixels = False``.

    Args:
        widths: stripe widths as fractions in (0, 1] of the image side.
        orientations: subset of (``vertical``, ``horizontal``).
        fill: grey level 0–255, ``"mean"`` (image mean) or ``"random"`` (a random colour per call); SCADN
            fills the hidden region with white (255).
        p: probability inside an albumentations pipeline.

    Example:
        >>> res = StripeMask().synthesize(np.zeros((64, 64, 3), np.uint8), rng=0)
        >>> float(res.mask.mean())
        0.5
    """

    family: ClassVar[str] = "masking"
    paper: ClassVar[str] = "SCADN: Yan, Zhang, Xu, Hu, Heng, AAAI 2021"
    description: ClassVar[str] = "SCADN multi-scale striped mask (3 widths, 2 directions, 2 phases)"
    mask_is_changed_pixels: ClassVar[bool] = False

    def __init__(
        self,
        widths: Sequence[float] = (0.25, 0.125, 0.0625),
        orientations: Sequence[str] = ORIENTATIONS,
        fill: int | str = 255,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        try:
            ws = tuple(float(v) for v in widths)
        except (TypeError, ValueError):
            raise ConfigError(
                f"expected `widths` to be a list of fractions in (0, 1], got {widths!r}"
            ) from None
        if not ws or any(not 0.0 < v <= 1.0 for v in ws):
            raise ConfigError(
                f"expected `widths` to be a non-empty list of fractions in (0, 1], got {widths!r}"
            )
        self.widths = ws
        self.orientations = _choices(orientations, ORIENTATIONS, "orientations")
        self.fill = check_fill(fill)

    def config(self) -> dict[str, Any]:
        return {"widths": list(self.widths), "orientations": list(self.orientations), "fill": self.fill}

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        h, w = image.shape[:2]
        width = self.widths[int(rng.integers(len(self.widths)))]
        orientation = self.orientations[int(rng.integers(len(self.orientations)))]
        phase = int(rng.integers(2))
        px = stripe_width_px(width, w if orientation == "vertical" else h)
        mask = stripe_mask(h, w, px, orientation, phase)
        if not mask.any():  # phase 1 of a stripe wider than the image: the first stripe instead
            phase = 0
            mask = stripe_mask(h, w, px, orientation, phase)
        value = fill_values(image, self.fill, rng)
        out = fill_masked(image, mask, value)
        params = {
            "width": width,
            "width_px": px,
            "orientation": orientation,
            "phase": phase,
            "fill": value.tolist(),
        }
        return SynthResult(out, mask.astype(np.uint8), 1, params)

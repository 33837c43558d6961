"""Masking generators for inpainting methods: RIAD grid masks (``grid``) and SCADN stripes (``stripes``).

Inpainting methods hide part of a normal image and learn to restore it. Here the hidden region is the
"defect": it is filled with a constant (``fill``) and returned as the mask. The mask is the hidden
*region*, not the changed pixels (a hidden pixel that already had the fill value is still hidden, and an
inpainting loss needs it): ``mask_is_changed_pixels = False``.

* **grid** (RIAD, METHODS §4.1): a cell side ``k`` drawn from ``k_values`` (default {2, 4, 8, 16}), the
  k×k cells randomly split into ``n`` disjoint sets (default 3), one set hidden. Every pixel belongs to
  exactly one set (:func:`make_riad_masks` returns the ``n`` complementary masks that RIAD's trainer and
  scorer use). ``mode="regions"`` hides random rectangles/ellipses instead.
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
from adsynth.synth import functional as Fn
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator

ORIENTATIONS = ("vertical", "horizontal")
GRID_MODES = ("grid", "regions")
REGION_SHAPES = ("rect", "ellipse")

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


def fill_masked(image: np.ndarray, mask: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Copy of ``image`` (H×W×C) with the H×W bool ``mask`` set to ``value`` (C values or H×W×C)."""
    out = image.copy()
    v = value if value.ndim == 3 else np.broadcast_to(value.astype(np.uint8), image.shape)
    np.copyto(out, v, where=mask[:, :, None])
    return out


# ------------------------------------------------------------------ parameter helpers


def check_fill(fill: Any, extra: tuple[str, ...] = ()) -> int | str:
    """Validate a fill: a grey level 0–255 (all channels), ``"mean"`` (the image's per-channel mean)
    or one of ``extra``."""
    names = ("mean", *extra)
    if isinstance(fill, str):
        if fill not in names:
            raise ConfigError(f"expected `fill` to be a grey level 0-255 or one of {names}, got {fill!r}")
        return fill
    if isinstance(fill, bool) or not isinstance(fill, (int, np.integer)) or not 0 <= fill <= 255:
        raise ConfigError(f"expected `fill` to be a grey level 0-255 or one of {names}, got {fill!r}")
    return int(fill)


def fill_values(image: np.ndarray, fill: int | str) -> np.ndarray:
    """The C fill values (uint8) of a constant or ``"mean"`` fill for ``image``."""
    c = image.shape[2]
    if fill == "mean":
        return np.rint(image.reshape(-1, c).mean(axis=0)).astype(np.uint8)
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

    Per call: ``k`` uniform from ``k_values``, a random partition of the cells into ``n`` sets (drawn from
    a sub-seed ``partition_seed`` recorded in the params, so the partition is reproducible without
    storing thousands of cells: ``make_riad_masks(H, W, k, n, np.random.default_rng(partition_seed))``
    rebuilds all ``n`` masks), and the hidden set ``set`` uniform among the non-empty ones.

    With ``mode="regions"`` the hidden region is instead a union of ``count`` random rectangles or
    ellipses, each of ``area`` (fraction of the image).

    The mask is the hidden region (``mask_is_changed_pixels = False``); hidden pixels are set to ``fill``.

    Args:
        k_values: cell sides in pixels to draw from.
        n: number of disjoint sets (RIAD: 3).
        fill: grey level 0–255 or ``"mean"`` (the image's per-channel mean). RIAD multiplies by the mask: 0.
        mode: ``"grid"`` or ``"regions"``.
        count: (min, max) number of regions (``mode="regions"``).
        area: (min, max) area of each region as a fraction of the image (``mode="regions"``).
        shapes: region shapes drawn from (``rect``, ``ellipse``) (``mode="regions"``).
        p: probability inside an albumentations pipeline.

    Example:
        >>> img = np.full((32, 32, 3), 200, np.uint8)
        >>> res = GridMask(k_values=(4,)).synthesize(img, rng=0)
        >>> res.params["k"], bool(res.mask.any()), int(res.image[res.mask > 0].max())
        (4, True, 0)
    """

    family: ClassVar[str] = "masking"
    paper: ClassVar[str] = "RIAD: Zavrtanik, Kristan, Skočaj, Pattern Recognition 2021"
    description: ClassVar[str] = "RIAD grid mask: one of n random disjoint sets of k×k cells hidden"
    mask_is_changed_pixels: ClassVar[bool] = False

    def __init__(
        self,
        k_values: Sequence[int] = (2, 4, 8, 16),
        n: int = 3,
        fill: int | str = 0,
        mode: str = "grid",
        count: tuple[int, int] = (1, 3),
        area: tuple[float, float] = (0.01, 0.08),
        shapes: Sequence[str] = REGION_SHAPES,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        if isinstance(k_values, (int, np.integer, str)) or not len(k_values):
            raise ConfigError(
                f"expected `k_values` to be a non-empty list of positive ints, got {k_values!r}"
            )
        self.k_values = tuple(check_positive_int(k, "k_values[]") for k in k_values)
        self.n = check_positive_int(n, "n")
        self.fill = check_fill(fill)
        if mode not in GRID_MODES:
            raise ConfigError(f"expected `mode` to be one of {GRID_MODES}, got {mode!r}")
        self.mode = mode
        lo, hi = check_interval(count, 1, 64, "count")
        if lo != int(lo) or hi != int(hi):
            raise ConfigError(f"expected `count` to be a pair of ints, got {count!r}")
        self.count = (int(lo), int(hi))
        self.area = check_interval(area, 1e-4, 1.0, "area")
        self.shapes = _choices(shapes, REGION_SHAPES, "shapes")

    def config(self) -> dict[str, Any]:
        return {
            "k_values": list(self.k_values),
            "n": self.n,
            "fill": self.fill,
            "mode": self.mode,
            "count": list(self.count),
            "area": list(self.area),
            "shapes": list(self.shapes),
        }

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        h, w = image.shape[:2]
        if self.mode == "grid":
            k = self.k_values[int(rng.integers(len(self.k_values)))]
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
            regions = []
            m = np.zeros((h, w), np.uint8)
            for _ in range(int(rng.integers(self.count[0], self.count[1] + 1))):
                shape = self.shapes[int(rng.integers(len(self.shapes)))]
                r, rp = Fn.region_mask((h, w), rng, shape, float(rng.uniform(*self.area)))
                m |= r
                regions.append(rp)
            if not m.any():  # a region drawn entirely off the image: hide its centre pixel
                cy, cx = regions[0].get("center", [h / 2, w / 2])
                m[min(h - 1, max(0, int(cy))), min(w - 1, max(0, int(cx)))] = 1
            mask = m.astype(bool)
            params = {"mode": "regions", "regions": regions}
        value = fill_values(image, self.fill)
        params["fill"] = value.tolist()
        out = fill_masked(image, mask, value)
        return SynthResult(out, mask.astype(np.uint8), 1, params)


@register_generator("stripes")
class StripeMask(Generator):
    """SCADN striped mask: one of the multi-scale stripe masks hidden (METHODS §4.2).

    Per call: a width uniform from ``widths`` (fractions of the side the stripes vary along; SCADN uses
    128, 64 and 32 px at 512 px), an orientation from ``orientations`` and a phase (0: the first stripe
    from the left/top edge is hidden, 1: its complement). With the defaults this is SCADN's training draw,
    uniform over its 12 masks. The mask is the hidden region (``mask_is_changed_pixels = False``).

    Args:
        widths: stripe widths as fractions in (0, 1] of the image side.
        orientations: subset of (``vertical``, ``horizontal``).
        fill: grey level 0–255 or ``"mean"``; SCADN fills the hidden region with white (255).
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
        value = fill_values(image, self.fill)
        out = fill_masked(image, mask, value)
        params = {
            "width": width,
            "width_px": px,
            "orientation": orientation,
            "phase": phase,
            "fill": value.tolist(),
        }
        return SynthResult(out, mask.astype(np.uint8), 1, params)

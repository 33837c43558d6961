"""Poisson-blended patches from another normal image: the ``poisson`` generator (NSA, METHODS §3.1).

NSA (Schlüter et al., ECCV 2022) cuts rectangular patches out of a *different* normal image, resizes
them, and blends them into the current image with Poisson image editing (``cv2.seamlessClone``), so that
the defect has no visible seam: source gradients for objects (``NORMAL_CLONE``), mixed gradients for
textures (``MIXED_CLONE``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from adsynth._validation import check_interval, check_positive_int, check_range
from adsynth.errors import ConfigError, DataError
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator
from adsynth.synth.perlin_texture import FOREGROUND_MODES, estimate_foreground, resolve_foreground

CLONE_MODES = {"normal": cv2.NORMAL_CLONE, "mixed": cv2.MIXED_CLONE}
MODES = ("normal", "mixed", "mix")


def _to_channels(img: np.ndarray, c: int) -> np.ndarray:
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == c:
        return img
    if c == 1:
        return cv2.cvtColor(np.ascontiguousarray(img[:, :, :3]), cv2.COLOR_RGB2GRAY)[:, :, None]
    return np.repeat(img[:, :, :1], 3, axis=2)


def poisson_paste(
    dest: np.ndarray, patch: np.ndarray, top_left: tuple[int, int], clone_mask: np.ndarray, mode: str
) -> np.ndarray:
    """Poisson-blend ``patch`` (h×w×3) into ``dest`` (H×W×3) with its top-left corner at ``top_left``.

    ``clone_mask`` (h×w bool) selects the blended pixels; its outermost rows and columns are ignored (they
    carry the boundary condition). Only pixels inside the mask can change. The patch is placed on a
    full-size canvas so that OpenCV's centre-based placement lands exactly on ``top_left``.
    """
    h, w = patch.shape[:2]
    y0, x0 = top_left
    canvas = dest.copy()
    canvas[y0 : y0 + h, x0 : x0 + w] = patch
    mask = np.zeros(dest.shape[:2], np.uint8)
    inner = clone_mask[1:-1, 1:-1]
    mask[y0 + 1 : y0 + h - 1, x0 + 1 : x0 + w - 1] = inner.astype(np.uint8) * 255
    ys, xs = np.nonzero(inner)
    if ys.size == 0 or ys.max() - ys.min() < 2 or xs.max() - xs.min() < 2:
        # OpenCV's solver asserts on regions thinner than 3 px; such a sliver is no patch: skip it.
        return dest.copy()
    # OpenCV puts the mask's bounding box at centre − size // 2; centring on that box is exact.
    by0, by1 = y0 + 1 + int(ys.min()), y0 + 1 + int(ys.max()) + 1
    bx0, bx1 = x0 + 1 + int(xs.min()), x0 + 1 + int(xs.max()) + 1
    center = (bx0 + (bx1 - bx0) // 2, by0 + (by1 - by0) // 2)
    # OpenCV writes into the mask it is given (it re-borders it in place): hand it a copy.
    out = cv2.seamlessClone(canvas, dest, mask.copy(), center, CLONE_MODES[mode])
    # The solver only writes the mask's bounding box; inside the patch, pixels outside the mask keep
    # their value (exactly: the mask, not its bounding box, is the blended region).
    r_out, r_dest = out[y0 : y0 + h, x0 : x0 + w], dest[y0 : y0 + h, x0 : x0 + w]
    keep = mask[y0 : y0 + h, x0 : x0 + w] == 0
    r_out[keep] = r_dest[keep]
    return out


def nsa_label(before: np.ndarray, after: np.ndarray, tol: float) -> np.ndarray:
    """NSA's binary label: ``medianBlur5(mean_c |after − before| > tol)`` as an H×W bool array."""
    diff = np.abs(after.astype(np.int16) - before.astype(np.int16)).mean(axis=2)
    return cv2.medianBlur((diff > tol).astype(np.uint8) * 255, 5) > 0


@register_generator("poisson")
class PoissonPatchGenerator(Generator):
    """Patches of another normal image, resized and Poisson-blended (NSA, METHODS §3.1).

    Per call one partner image is drawn from the pool (never the current image when the pool holds
    another one; it is resized to the image size if needed). Patch 0 is always attempted and each of the
    further ``num_patches − 1`` with probability ``extra_patch_prob``; patches are applied in turn to the
    already modified image. Per patch: half-heights/widths ``int(clip((lower + Gamma(shape, scale))·dim,
    min, max))`` from ``gamma_params`` and ``width_bounds`` (uniform in the bounds when ``gamma_params`` is
    None); a source position fully inside the partner; a scale ``clip(N(1, 0.5), *resize_bounds)``,
    narrowed so that both sides stay in the width bounds (aspect kept); a destination position with the
    patch fully inside the image; Poisson blending with the patch's 1-px frame as boundary.
    ``mode="mix"`` flips a coin between normal and mixed gradients per patch.

    With ``foreground`` the patch must cover more than ``min_object_pct`` of object pixels at the
    destination, the clone region is the patch ∩ foreground (the defect stays on the object), and in
    ``"auto"`` mode the partner's estimated object must also fill ``min_object_pct`` of the source patch
    and overlap the destination's object by ``min_overlap_pct`` (up to ``max_attempts`` positions each).

    **Mask.** Poisson blending shifts almost every pixel of the patch rectangle by a level or two, also
    where nothing visible changed. The generator follows NSA's label, ``medianBlur5(mean_c |Δ| > tol)``
    with ``tol = 1``, then *restores* the original value of every pixel outside that label (sub-``tol``
    shifts that nobody can see), and returns as mask the label pixels that still differ from the input.
    So the mask is exactly the set of changed pixels (``mask_is_changed_pixels = True``), and it agrees
    with NSA's binary label except for the few label pixels whose value did not change at all.

    Args:
        num_patches: maximum number of patches (NSA MVTec: 3 for most objects, 4 for screw, zipper and
            textures).
        extra_patch_prob: probability of each patch after the first.
        width_bounds: ((h_min, h_max), (w_min, w_max)) half-sizes as fractions of H and W, each in (0, 0.5].
        gamma_params: (shape, scale, lower) of the half-size distribution, or None for uniform.
        resize: rescale the patch between source and destination.
        resize_bounds: (min, max) of the scale; NSA uses (0.7, 1.3) for objects and (0.5, 2) for textures.
        mode: ``"normal"`` (objects), ``"mixed"`` (textures) or ``"mix"``.
        tol: label threshold on the channel-mean absolute change (uint8 levels).
        foreground: ``"off"``, ``"context"`` (``SynthContext.foreground`` when given) or ``"auto"`` (that,
            else an estimate; the partner's object is always estimated in this mode).
        bg_threshold, bg_reverse: gray threshold of the foreground estimate (None: Otsu); see
            :func:`adsynth.synth.perlin_texture.estimate_foreground`.
        min_object_pct, min_overlap_pct: NSA's object-coverage requirements.
        max_attempts: position draws per patch, and whole redraws when nothing visible was produced.
        p: albumentations application probability.
        sources: the pool of other normal images when used as an albumentations transform.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> a, b = (rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(2))
        >>> res = PoissonPatchGenerator(sources=[b]).synthesize(a, rng=1)
        >>> res.sources, bool(res.mask.any())
        (['pool[0]'], True)
    """

    family = "poisson"
    paper = "NSA: Schlüter, Tan, Hou, Kainz, ECCV 2022"
    description = "patches of another normal image, resized and Poisson-blended (seamlessClone)"
    needs_pool = True

    def __init__(
        self,
        num_patches: int = 3,
        extra_patch_prob: float = 0.5,
        width_bounds: Sequence[Sequence[float]] = ((0.03, 0.4), (0.03, 0.4)),
        gamma_params: Sequence[float] | None = (2.0, 0.05, 0.03),
        resize: bool = True,
        resize_bounds: tuple[float, float] = (0.7, 1.3),
        mode: str = "normal",
        tol: float = 1.0,
        foreground: str = "off",
        bg_threshold: int | None = None,
        bg_reverse: bool = False,
        min_object_pct: float = 0.25,
        min_overlap_pct: float = 0.25,
        max_attempts: int = 200,
        p: float = 1.0,
        sources: Sequence[np.ndarray] | None = None,
    ) -> None:
        super().__init__(p=p, sources=sources)
        self.num_patches = check_positive_int(num_patches, "num_patches")
        self.extra_patch_prob = check_range(extra_patch_prob, 0.0, 1.0, "extra_patch_prob")
        try:
            hb, wb = width_bounds
        except (TypeError, ValueError):
            raise ConfigError(
                f"expected `width_bounds` to be ((h_min, h_max), (w_min, w_max)), got {width_bounds!r}"
            ) from None
        self.width_bounds = (
            check_interval(hb, 0.0, 0.5, "width_bounds[0]"),
            check_interval(wb, 0.0, 0.5, "width_bounds[1]"),
        )
        if gamma_params is None:
            self.gamma_params = None
        else:
            try:
                shape, scale, lower = (float(v) for v in gamma_params)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"expected `gamma_params` to be (shape, scale, lower) or None, got {gamma_params!r}"
                ) from None
            if shape <= 0 or scale <= 0 or not 0 <= lower < 0.5:
                raise ConfigError(
                    f"expected `gamma_params` shape, scale > 0 and 0 <= lower < 0.5, got {gamma_params!r}"
                )
            self.gamma_params = (shape, scale, lower)
        if not isinstance(resize, bool):
            raise ConfigError(f"expected `resize` to be a bool, got {resize!r}")
        self.resize = resize
        self.resize_bounds = check_interval(resize_bounds, 0.05, 20.0, "resize_bounds")
        if mode not in MODES:
            raise ConfigError(f"expected `mode` to be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.tol = check_range(tol, 0.0, 254.0, "tol")
        if foreground not in FOREGROUND_MODES:
            raise ConfigError(f"expected `foreground` to be one of {FOREGROUND_MODES}, got {foreground!r}")
        self.foreground = foreground
        self.bg_threshold = (
            None if bg_threshold is None else int(check_range(bg_threshold, 0, 255, "bg_threshold"))
        )
        if not isinstance(bg_reverse, bool):
            raise ConfigError(f"expected `bg_reverse` to be a bool, got {bg_reverse!r}")
        self.bg_reverse = bg_reverse
        self.min_object_pct = check_range(min_object_pct, 0.0, 1.0, "min_object_pct")
        self.min_overlap_pct = check_range(min_overlap_pct, 0.0, 1.0, "min_overlap_pct")
        self.max_attempts = check_positive_int(max_attempts, "max_attempts")

    def config(self) -> dict[str, Any]:
        return {
            "num_patches": self.num_patches,
            "extra_patch_prob": self.extra_patch_prob,
            "width_bounds": [list(self.width_bounds[0]), list(self.width_bounds[1])],
            "gamma_params": None if self.gamma_params is None else list(self.gamma_params),
            "resize": self.resize,
            "resize_bounds": list(self.resize_bounds),
            "mode": self.mode,
            "tol": self.tol,
            "foreground": self.foreground,
            "bg_threshold": self.bg_threshold,
            "bg_reverse": self.bg_reverse,
            "min_object_pct": self.min_object_pct,
            "min_overlap_pct": self.min_overlap_pct,
            "max_attempts": self.max_attempts,
        }

    # ------------------------------------------------------------------ sampling
    def _half_size(self, rng: np.random.Generator, dim: int, bounds: tuple[float, float]) -> int:
        lo, hi = max(1, int(bounds[0] * dim)), max(1, int(bounds[1] * dim))
        hi = min(hi, (dim - 2) // 2)
        lo = min(lo, hi)
        if self.gamma_params is None:
            return int(rng.integers(lo, hi + 1))
        shape, scale, lower = self.gamma_params
        return int(np.clip((lower + rng.gamma(shape, scale)) * dim, lo, hi))

    def _scale(self, rng: np.random.Generator, hh: int, hw: int, h: int, w: int) -> float:
        if not self.resize:
            return 1.0
        s = float(np.clip(rng.normal(1.0, 0.5), *self.resize_bounds))
        (hlo, hhi), (wlo, whi) = self.width_bounds
        top = min(max(hhi * h, 1) / hh, max(whi * w, 1) / hw, ((h - 2) // 2) / hh, ((w - 2) // 2) / hw)
        bottom = max(hlo * h / hh, wlo * w / hw)
        return float(min(max(s, min(bottom, top)), top))

    def _one_patch(
        self,
        out: np.ndarray,
        partner: np.ndarray,
        fg: np.ndarray | None,
        src_fg: np.ndarray | None,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, dict[str, Any] | None]:
        h, w = out.shape[:2]
        for _ in range(self.max_attempts):
            hh = self._half_size(rng, h, self.width_bounds[0])
            hw = self._half_size(rng, w, self.width_bounds[1])
            sy = int(rng.integers(hh, h - hh + 1))
            sx = int(rng.integers(hw, w - hw + 1))
            src_box = [sy - hh, sx - hw, sy + hh, sx + hw]
            if (
                src_fg is not None
                and src_fg[src_box[0] : src_box[2], src_box[1] : src_box[3]].mean() <= self.min_object_pct
            ):
                continue
            scale = self._scale(rng, hh, hw, h, w)
            ph, pw = max(3, int(round(2 * hh * scale))), max(3, int(round(2 * hw * scale)))
            ph, pw = min(ph, h - 2), min(pw, w - 2)
            y0 = int(rng.integers(1, h - ph))
            x0 = int(rng.integers(1, w - pw))
            dst_box = [y0, x0, y0 + ph, x0 + pw]
            clone = np.ones((ph, pw), bool)
            if fg is not None:
                clone = fg[y0 : y0 + ph, x0 : x0 + pw].copy()
                if clone.mean() <= self.min_object_pct:
                    continue
            patch = partner[src_box[0] : src_box[2], src_box[1] : src_box[3]]
            if (ph, pw) != patch.shape[:2]:
                patch = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_LINEAR)
            if src_fg is not None:
                src_obj = src_fg[src_box[0] : src_box[2], src_box[1] : src_box[3]].astype(np.uint8)
                src_obj = cv2.resize(src_obj, (pw, ph), interpolation=cv2.INTER_NEAREST) > 0
                if (src_obj & clone).mean() <= self.min_overlap_pct:
                    continue
            if clone[1:-1, 1:-1].sum() < 50:  # NSA skips patches with fewer than 50 blended pixels
                continue
            mode = self.mode if self.mode != "mix" else ("normal" if rng.random() < 0.5 else "mixed")
            new = poisson_paste(out, patch, (y0, x0), clone, mode)
            info = {"src_box": src_box, "dst_box": dst_box, "scale": scale, "mode": mode}
            return new, info
        return out, None

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        pool = context.pool
        assert pool is not None  # synthesize() checks needs_pool
        h, w, c = image.shape
        j = pool.draw_other(rng, exclude=context.index)
        partner = _to_channels(np.asarray(pool.get(j)), c)
        if partner.shape[:2] != (h, w):
            partner = cv2.resize(partner, (w, h), interpolation=cv2.INTER_AREA)
            partner = partner if partner.ndim == 3 else partner[:, :, None]
        fg, fg_origin = resolve_foreground(
            self.foreground, image, context, self.bg_threshold, self.bg_reverse
        )
        src_fg = None
        if self.foreground == "auto" and fg is not None:
            src_fg = estimate_foreground(partner, self.bg_threshold, self.bg_reverse)
            src_fg = src_fg if src_fg.any() else None
        # seamlessClone works on 8-bit 3-channel images; a gray image goes through as three equal channels.
        img3 = image if c == 3 else np.repeat(image, 3, axis=2)
        par3 = partner if c == 3 else np.repeat(partner, 3, axis=2)
        same = context.index is not None and j == context.index
        for attempt in range(self.max_attempts):
            out, patches = img3, []
            for k in range(self.num_patches):
                if k > 0 and rng.random() >= self.extra_patch_prob:
                    continue
                out, info = self._one_patch(out, par3, fg, src_fg, rng)
                if info is not None:
                    patches.append(info)
            if not patches:
                continue
            # Only the patch rectangles can have changed: label and compare inside their bounding box.
            boxes = np.array([pi["dst_box"] for pi in patches])
            y0, x0 = (int(v) for v in boxes[:, :2].min(axis=0))
            y1, x1 = (int(v) for v in boxes[:, 2:].max(axis=0))
            win = (slice(y0, y1), slice(x0, x1))
            label = nsa_label(img3[win], out[win], self.tol)
            out = out.copy() if out is img3 else out
            out[win] = np.where(label[:, :, None], out[win], img3[win])
            if c == 1:
                out = np.ascontiguousarray(out[:, :, :1])
            mask = np.zeros((h, w), bool)
            mask[win] = (out[win] != image[win]).any(axis=2)
            if mask.any():
                params = {
                    "partner": int(j),
                    "partner_is_self": bool(same),
                    "patches": patches,
                    "foreground": fg_origin,
                    "attempts": attempt + 1,
                }
                return SynthResult(
                    image=out, mask=mask.astype(np.uint8), label=1, params=params, sources=[pool.name(j)]
                )
        raise DataError(f"{self.name}: no visible patch after {self.max_attempts} attempts")

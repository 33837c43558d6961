"""Perlin-mask texture anomalies: the ``texture`` generator (DRAEM) and its ``memseg`` variant.

DRAEM (Zavrtanik et al., ICCV 2021) thresholds rotated Perlin noise into an anomaly region and blends an
augmented texture image into it; MemSeg (Yang et al., 2023) restricts the region to the object
foreground, uses either an un-augmented texture or a "structure" source (the image itself, augmented and
cut into shuffled tiles) and a wider opacity range. Both are :class:`PerlinTextureGenerator` with
different parameters; ``memseg`` only changes the defaults.

The pixel kernels (:func:`augment`, :func:`shuffle_tiles`, :func:`blend`, :func:`estimate_foreground`)
are plain functions of arrays and an explicit ``rng``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from adsynth._validation import check_interval, check_mask, check_positive_int, check_range
from adsynth.errors import ConfigError, DataError
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator
from adsynth.synth.perlin import draw_perlin_params, perlin_region
from adsynth.synth.texture_source import BUILTINS, TextureSource, as_texture_source

FOREGROUND_MODES = ("off", "context", "auto")

# ---------------------------------------------------------------------------------------------------------
# Augmentations: a numpy/cv2 counterpart of DRAEM's ten imgaug augmenters (METHODS §1.1), each drawing its
# own parameters from `rng` and returning them for provenance. Inputs and outputs are H×W×3 uint8 RGB.


def _lut(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Apply a 256-entry table (shared) or a 256×3 table (one per channel)."""
    table = np.clip(np.rint(table), 0, 255).astype(np.uint8)
    if table.ndim == 2:
        return cv2.LUT(img, table.reshape(256, 1, 3))
    return cv2.LUT(img, table)


_RAMP = np.arange(256, dtype=np.float64)


def _gamma_contrast(img, rng):
    g = rng.uniform(0.5, 2.0, size=3)
    return _lut(img, 255.0 * (_RAMP[:, None] / 255.0) ** g[None, :]), {"gamma": g.tolist()}


def _brightness(img, rng):
    mul, add = float(rng.uniform(0.8, 1.2)), float(rng.uniform(-30.0, 30.0))
    ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
    ycc[:, :, 0] = _lut(np.ascontiguousarray(ycc[:, :, 0]), _RAMP * mul + add)
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB), {"mul": mul, "add": add}


_SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13.0  # PIL's SMOOTH kernel


def _sharpness(img, rng):
    f = float(rng.uniform(0.0, 2.0))
    blurred = cv2.filter2D(img, -1, _SMOOTH, borderType=cv2.BORDER_REPLICATE)
    return cv2.addWeighted(img, f, blurred, 1.0 - f, 0.0), {"factor": f}


def _hue_saturation(img, rng):
    dh, ds = (int(v) for v in rng.integers(-50, 51, size=2))
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)
    # imgaug's hue value v ∈ [-255, 255] means v/255·180°; one HSV_FULL hue unit is 360/256°.
    hue_shift = int(round(dh * 128 / 255))
    hsv[:, :, 0] = _lut(np.ascontiguousarray(hsv[:, :, 0]), (_RAMP + hue_shift) % 256)
    hsv[:, :, 1] = _lut(np.ascontiguousarray(hsv[:, :, 1]), _RAMP + ds)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL), {"hue": dh, "saturation": ds}


def _solarize(img, rng):
    applied = bool(rng.random() < 0.5)
    t = int(rng.integers(32, 129))
    if not applied:
        return img, {"applied": False, "threshold": t}
    return _lut(img, np.where(_RAMP >= t, 255 - _RAMP, _RAMP)), {"applied": True, "threshold": t}


def _posterize(img, rng):
    bits = int(rng.integers(1, 9))
    return _lut(img, _RAMP.astype(np.int64) & (0xFF << (8 - bits)) & 0xFF), {"bits": bits}


def _invert(img, rng):
    return 255 - img, {}


def _autocontrast(img, rng):
    cutoff = float(rng.uniform(0.0, 20.0))
    tables = []
    for c in range(3):
        cdf = np.cumsum(np.bincount(img[:, :, c].ravel(), minlength=256)) / (img.shape[0] * img.shape[1])
        lo = int(np.searchsorted(cdf, cutoff / 100.0, side="right"))
        hi = int(np.searchsorted(cdf, 1.0 - cutoff / 100.0, side="left"))
        if hi <= lo:
            tables.append(_RAMP)
        else:
            tables.append((_RAMP - lo) * (255.0 / (hi - lo)))
    return _lut(img, np.stack(tables, axis=1)), {"cutoff": cutoff}


def _equalize(img, rng):
    return cv2.merge([cv2.equalizeHist(np.ascontiguousarray(img[:, :, c])) for c in range(3)]), {}


def _rotate(img, rng):
    angle = float(rng.uniform(-45.0, 45.0))
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, 1.0)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out, {"angle": angle}


AUGMENTATIONS: dict[str, Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, dict]]] = {
    "gamma_contrast": _gamma_contrast,
    "brightness": _brightness,
    "sharpness": _sharpness,
    "hue_saturation": _hue_saturation,
    "solarize": _solarize,
    "posterize": _posterize,
    "invert": _invert,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
    "rotate": _rotate,
}


def augment(img: np.ndarray, rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[dict]]:
    """Apply ``n`` of the ten :data:`AUGMENTATIONS`, chosen without replacement, in the drawn order.

    Mirrors DRAEM's ``randAugmenter`` (three of GammaContrast, MultiplyAndAddToBrightness,
    EnhanceSharpness, AddToHueAndSaturation, Solarize, Posterize, Invert, Autocontrast, Equalize,
    Affine-rotate). Returns the image and one record per step: ``{"op": name, **drawn values}``.

    Example:
        >>> import numpy as np
        >>> img = np.random.default_rng(0).integers(0, 255, (16, 16, 3), dtype=np.uint8)
        >>> out, steps = augment(img, np.random.default_rng(1), 3)
        >>> out.shape, len(steps)
        ((16, 16, 3), 3)
    """
    names = list(AUGMENTATIONS)
    steps = []
    for i in rng.choice(len(names), size=min(n, len(names)), replace=False) if n > 0 else []:
        img, info = AUGMENTATIONS[names[int(i)]](img, rng)
        steps.append({"op": names[int(i)], **info})
    return img, steps


def shuffle_tiles(img: np.ndarray, grid: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """Cut ``img`` into ``grid × grid`` equal tiles and shuffle them (MemSeg's structure anomaly source).

    When a side is not a multiple of ``grid``, the last rows/columns that do not fill a tile stay in place.
    Returns the image and the permutation (tile ``k`` of the output is tile ``perm[k]`` of the input).
    """
    h, w, c = img.shape
    g = max(1, min(grid, h, w))
    th, tw = h // g, w // g
    tiles = (
        img[: g * th, : g * tw].reshape(g, th, g, tw, c).transpose(0, 2, 1, 3, 4).reshape(g * g, th, tw, c)
    )
    perm = rng.permutation(g * g)
    out = img.copy()
    out[: g * th, : g * tw] = (
        tiles[perm].reshape(g, g, th, tw, c).transpose(0, 2, 1, 3, 4).reshape(g * th, g * tw, c)
    )
    return out, perm.tolist()


def blend(
    image: np.ndarray, source: np.ndarray, region: np.ndarray, beta: float
) -> tuple[np.ndarray, np.ndarray]:
    """DRAEM's blend: ``image`` outside ``region``; ``(1 − β)·source + β·image`` inside (rounded).

    Returns the blended image and the H×W bool mask of the pixels whose value changed.

    Example:
        >>> import numpy as np
        >>> img, src = np.zeros((2, 2, 1), np.uint8), np.full((2, 2, 1), 100, np.uint8)
        >>> out, changed = blend(img, src, np.array([[True, False], [False, False]]), 0.25)
        >>> out[:, :, 0].tolist(), int(changed.sum())
        ([[75, 0], [0, 0]], 1)
    """
    h, w, c = image.shape
    idx = np.flatnonzero(region)
    flat_img = image.reshape(-1, c)
    old = flat_img[idx]
    new = (1.0 - beta) * source.reshape(-1, c)[idx].astype(np.float32) + beta * old.astype(np.float32)
    new = np.clip(np.rint(new), 0, 255).astype(np.uint8)
    out = image.copy()
    out.reshape(-1, c)[idx] = new
    changed = np.zeros(h * w, bool)
    changed[idx] = (new != old).any(axis=1)
    return out, changed.reshape(h, w)


def estimate_foreground(image: np.ndarray, threshold: int | None = None, reverse: bool = False) -> np.ndarray:
    """An H×W bool object mask estimated from intensity.

    With ``threshold`` (MemSeg, METHODS §6.1): pixels with gray value ``> threshold`` form the
    background, and the foreground is the rest, or those pixels themselves when ``reverse`` (dark
    backgrounds, e.g. hazelnut 50 / reverse). Without it: Otsu's threshold, and the background is the
    class that holds most of the image border. The mask is median-filtered (5 px) to remove speckle.
    """
    gray = image[:, :, 0] if image.shape[2] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if threshold is not None:
        bright = gray > threshold
        fg = bright if reverse else ~bright
    else:
        t, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        bright = gray > t
        border = np.concatenate([bright[0], bright[-1], bright[:, 0], bright[:, -1]])
        fg = ~bright if border.mean() > 0.5 else bright
    return cv2.medianBlur(fg.astype(np.uint8) * 255, 5) > 0


def resolve_foreground(
    mode: str, image: np.ndarray, context: SynthContext, threshold: int | None, reverse: bool
) -> tuple[np.ndarray | None, str]:
    """The foreground to restrict defects to, and where it came from (recorded in the params).

    ``"off"``: none. ``"context"``: ``context.foreground`` when given. ``"auto"``: ``context.foreground``,
    else :func:`estimate_foreground`. An empty foreground is ignored (``"empty"``) rather than making a
    defect impossible.
    """
    if mode == "off":
        return None, "none"
    fg, origin = None, "none"
    if context.foreground is not None:
        fg, origin = check_mask(context.foreground, image.shape[:2], name="context.foreground") > 0, "context"
    elif mode == "auto":
        fg, origin = estimate_foreground(image, threshold, reverse), "estimated"
    if fg is not None and not fg.any():
        return None, "empty"
    return fg, origin


def _check_choice(value: Any, choices: Sequence[str], name: str) -> str:
    if value not in choices:
        raise ConfigError(f"expected `{name}` to be one of {tuple(choices)}, got {value!r}")
    return value


def _check_count(value: Any, name: str, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= hi:
        raise ConfigError(f"expected `{name}` to be an int in [0, {hi}], got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------------------------------------


@register_generator("texture")
class PerlinTextureGenerator(Generator):
    """Blend a texture into a thresholded, rotated Perlin-noise region (DRAEM, METHODS §1.1).

    Per call: scales ``2**kx``, ``2**ky`` with k drawn independently in ``scale_exponents``; Perlin noise
    rotated by an angle in ``rotation`` (zero fill); region = noise ``> threshold``, intersected with the
    object foreground when ``foreground`` asks for it. The anomaly source is a texture from ``textures``
    with ``augmentations`` random augmentations, or with probability ``structure_prob`` the image itself
    with ``structure_augmentations`` augmentations cut into ``structure_grid²`` shuffled tiles (MemSeg).
    Inside the region the output is ``(1 − β)·source + β·image`` with β uniform in ``beta``. Draws whose
    region is empty or leaves every pixel unchanged are redrawn, up to ``max_attempts`` times.

    The mask is exactly the changed pixels (region pixels whose rounded blend equals the original value
    are left out). DRAEM's training loop also rotates the *normal* image with p = 0.3 and returns a
    clean sample with p = 0.5; both belong to the dataset pipeline (recipes), not to this generator.

    Args:
        textures: a folder of texture images (DTD ``images/``), a :class:`TextureSource`, or ``None`` for
            the built-in offline textures selected by ``builtin``.
        builtin: ``"all"``, ``"skimage"`` or ``"procedural"`` (used without ``textures``).
        threshold: Perlin threshold in [0, 1).
        scale_exponents: inclusive range of the per-axis scale exponent k (scale ``2**k``), within [0, 8].
        rotation: range of the noise rotation, degrees.
        beta: range of β, the weight of the original image inside the region.
        augmentations: how many of the ten augmentations are applied to a texture source (0..10).
        structure_prob: probability of a structure source instead of a texture.
        structure_augmentations: augmentations applied to the image before shuffling it (0..10).
        structure_grid: tiles per side of the structure shuffle.
        foreground: ``"off"``, ``"context"`` (use ``SynthContext.foreground`` when given) or ``"auto"``
            (that, else :func:`estimate_foreground`).
        bg_threshold: MemSeg's gray threshold for the foreground estimate (``None``: Otsu).
        bg_reverse: MemSeg's ``bg_reverse`` (dark background).
        max_attempts: redraws before giving up with :class:`DataError`.
        p: albumentations application probability.
        sources: unused (the texture generators need no pool); accepted for a uniform signature.

    Example:
        >>> import numpy as np
        >>> gen = PerlinTextureGenerator(builtin="procedural")
        >>> img = np.full((64, 64, 3), 128, np.uint8)
        >>> res = gen.synthesize(img, rng=0)
        >>> bool(res.mask.any()), bool(((res.image != img).any(-1) == res.mask.astype(bool)).all())
        (True, True)
    """

    family = "texture"
    paper = "DRAEM: Zavrtanik, Kristan, Skočaj, ICCV 2021"
    description = "augmented texture blended into a rotated, thresholded Perlin-noise region"

    def __init__(
        self,
        textures: str | os.PathLike | TextureSource | None = None,
        builtin: str = "all",
        threshold: float = 0.5,
        scale_exponents: tuple[int, int] = (0, 5),
        rotation: tuple[float, float] = (-90.0, 90.0),
        beta: tuple[float, float] = (0.0, 0.8),
        augmentations: int = 3,
        structure_prob: float = 0.0,
        structure_augmentations: int = 3,
        structure_grid: int = 8,
        foreground: str = "off",
        bg_threshold: int | None = None,
        bg_reverse: bool = False,
        max_attempts: int = 100,
        p: float = 1.0,
        sources: Sequence[np.ndarray] | None = None,
    ) -> None:
        super().__init__(p=p, sources=sources)
        _check_choice(builtin, BUILTINS, "builtin")
        self.source = as_texture_source(textures, builtin)
        self.threshold = check_range(threshold, 0.0, 0.999, "threshold")
        lo, hi = check_interval(scale_exponents, 0, 8, "scale_exponents")
        if lo != int(lo) or hi != int(hi):
            raise ConfigError(f"expected `scale_exponents` to be a pair of ints, got {scale_exponents!r}")
        self.scale_exponents = (int(lo), int(hi))
        self.rotation = check_interval(rotation, -360.0, 360.0, "rotation")
        self.beta = check_interval(beta, 0.0, 1.0, "beta")
        self.augmentations = _check_count(augmentations, "augmentations", len(AUGMENTATIONS))
        self.structure_prob = check_range(structure_prob, 0.0, 1.0, "structure_prob")
        self.structure_augmentations = _check_count(
            structure_augmentations, "structure_augmentations", len(AUGMENTATIONS)
        )
        self.structure_grid = check_positive_int(structure_grid, "structure_grid")
        self.foreground = _check_choice(foreground, FOREGROUND_MODES, "foreground")
        self.bg_threshold = (
            None if bg_threshold is None else int(check_range(bg_threshold, 0, 255, "bg_threshold"))
        )
        if not isinstance(bg_reverse, bool):
            raise ConfigError(f"expected `bg_reverse` to be a bool, got {bg_reverse!r}")
        self.bg_reverse = bg_reverse
        self.max_attempts = check_positive_int(max_attempts, "max_attempts")

    def config(self) -> dict[str, Any]:
        return {
            "textures": self.source.folder,
            "builtin": self.source.builtin,
            "threshold": self.threshold,
            "scale_exponents": list(self.scale_exponents),
            "rotation": list(self.rotation),
            "beta": list(self.beta),
            "augmentations": self.augmentations,
            "structure_prob": self.structure_prob,
            "structure_augmentations": self.structure_augmentations,
            "structure_grid": self.structure_grid,
            "foreground": self.foreground,
            "bg_threshold": self.bg_threshold,
            "bg_reverse": self.bg_reverse,
            "max_attempts": self.max_attempts,
        }

    def _anomaly_source(
        self, image: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, dict[str, Any], list[str]]:
        h, w, c = image.shape
        if self.structure_prob > 0 and rng.random() < self.structure_prob:
            rgb = np.repeat(image, 3, axis=2) if c == 1 else image
            src, steps = augment(rgb, rng, self.structure_augmentations)
            src, perm = shuffle_tiles(src, self.structure_grid, rng)
            info: dict[str, Any] = {"source": "structure", "augmentations": steps, "tile_permutation": perm}
            names: list[str] = []
        else:
            tex, tex_info = self.source.draw(rng, (h, w))
            src, steps = augment(tex, rng, self.augmentations)
            # The texture's own draws are nested: their keys (e.g. a stripe "angle") must not shadow ours.
            name = tex_info.pop("texture")
            info = {"source": "texture", "texture": name, "texture_params": tex_info, "augmentations": steps}
            names = [name]
        if c == 1:
            src = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)[:, :, None]
        return src, info, names

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        h, w = image.shape[:2]
        fg, fg_origin = resolve_foreground(
            self.foreground, image, context, self.bg_threshold, self.bg_reverse
        )
        for attempt in range(self.max_attempts):
            pp = draw_perlin_params(rng, self.scale_exponents, self.rotation)
            region = perlin_region(
                (h, w),
                np.random.default_rng(pp["noise_seed"]),
                scale_x=pp["scale_x"],
                scale_y=pp["scale_y"],
                angle=pp["angle"],
                threshold=self.threshold,
            )
            if fg is not None:
                region &= fg
            if not region.any():
                continue
            src, info, names = self._anomaly_source(image, rng)
            beta = float(rng.uniform(*self.beta))
            out, mask = blend(image, src, region, beta)
            if mask.any():
                params = {
                    **pp,
                    "threshold": self.threshold,
                    "beta": beta,
                    **info,
                    "foreground": fg_origin,
                    "attempts": attempt + 1,
                }
                return SynthResult(
                    image=out, mask=mask.astype(np.uint8), label=1, params=params, sources=names
                )
        raise DataError(
            f"{self.name}: no visible defect after {self.max_attempts} attempts"
            " (foreground too small, or texture identical to the image?)"
        )


MEMSEG_PRESET: dict[str, Any] = {
    "augmentations": 0,
    "structure_prob": 0.5,
    "structure_augmentations": 3,
    "structure_grid": 8,
    # MemSeg draws the source opacity δ ~ U(0.15, 1); β = 1 − δ is the image weight ~ U(0, 0.85).
    "beta": (0.0, 0.85),
    "foreground": "context",
}


@register_generator("memseg")
class MemSegGenerator(PerlinTextureGenerator):
    """MemSeg's anomaly simulation (METHODS §6.1): :class:`PerlinTextureGenerator` with MemSeg's defaults.

    Perlin region ∩ foreground; with p = 0.5 an un-augmented texture, else a structure source (the image
    with 3 augmentations, 8×8 tiles shuffled); opacity δ ~ U(0.15, 1), i.e. β = 1 − δ ~ U(0, 0.85). The
    foreground comes from ``SynthContext.foreground`` by default; pass ``foreground="auto"`` with
    ``bg_threshold``/``bg_reverse`` for MemSeg's per-class gray-threshold estimate. Any argument of
    :class:`PerlinTextureGenerator` overrides the preset.
    """

    paper = "MemSeg: Yang, Wu, Liu, Feng, EAAI 2023"
    description = "Perlin region ∩ foreground filled with a texture or a tile-shuffled copy of the image"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**MEMSEG_PRESET, **kwargs})

"""Uneven shading: a large region whose brightness, contrast and grain differ from the rest of the part.

Surface defects such as uneven coating, discolouration, a change of grinding direction or the *uneven*
type of the magnetic-tile dataset are not small local marks but large regions, often bounded by a line
across the part from one of its edges, that are brighter or darker and differently textured. The local
recipes (Perlin textures, cut-and-paste patches, erasure) rarely make such regions, and models trained on
them miss these defects (docs/MODELS.md, "recipe → real defect type"). This generator makes them:

* the region: a **band** from a random image edge to a smooth curve across the image (two or three
  low-frequency sinusoids), or a large **blob** (low-frequency Perlin noise above a threshold); its
  share of the image is drawn in ``coverage``;
* inside it: ``out = (image − m)·contrast + m·gain + offset`` (``m``: the region's mean grey level), and
  with probability ``grain_prob`` directional grain (noise smoothed along one axis, the streaks of a
  ground or brushed surface) of amplitude ``grain``;
* the border softened over ``softness`` pixels (a Gaussian blend), so the boundary is a line and not a
  cut.

The mask is the region's pixels that changed. Written from the description of the defects, not from
a paper's code.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from adsynth._validation import check_interval, check_range
from adsynth.errors import ConfigError
from adsynth.synth import functional as Fn
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator
from adsynth.synth.noise import _choices
from adsynth.synth.perlin import perlin_2d

SHAPES = ("band", "blob")


@register_generator("shading")
class Shading(Generator):
    """A large region of changed brightness, contrast and grain (uneven surface or coating).

    Args:
        shapes: region shapes drawn from (``band``: from an image edge to a smooth curve across the image,
            ``blob``: a large low-frequency Perlin blob).
        coverage: (min, max) share of the image the region covers.
        gain: (min, max) factor on the region's mean brightness.
        contrast: (min, max) factor on the deviations from the region's mean.
        offset: (min, max) grey levels added.
        min_change: the draw is redone until the region's mean moves by at least this many grey levels or
            its contrast by this fraction ×100 (so that the defect is visible).
        grain_prob: probability of directional grain inside the region.
        grain: (min, max) amplitude of the grain, grey levels.
        softness: (min, max) width in pixels of the Gaussian blend at the border.
        p: probability inside an albumentations pipeline.

    Example:
        >>> import numpy as np
        >>> img = np.full((64, 64, 1), 100, np.uint8)
        >>> res = Shading().synthesize(img, rng=0)
        >>> bool(res.mask.mean() > 0.05), bool(((res.image != img)[..., 0] == res.mask.astype(bool)).all())
        (True, True)
    """

    family: ClassVar[str] = "shading"
    paper: ClassVar[str] = "adsynth (uneven surface / discolouration defects)"
    description: ClassVar[str] = "a large band or blob of changed brightness, contrast and grain"

    def __init__(
        self,
        shapes: tuple[str, ...] = SHAPES,
        coverage: tuple[float, float] = (0.1, 0.5),
        gain: tuple[float, float] = (0.75, 1.35),
        contrast: tuple[float, float] = (0.7, 1.6),
        offset: tuple[float, float] = (-10.0, 10.0),
        min_change: float = 8.0,
        grain_prob: float = 0.5,
        grain: tuple[float, float] = (4.0, 16.0),
        softness: tuple[float, float] = (0.5, 3.0),
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.shapes = _choices(shapes, SHAPES, "shapes")
        self.coverage = check_interval(coverage, 0.01, 0.95, "coverage")
        self.gain = check_interval(gain, 0.1, 4.0, "gain")
        self.contrast = check_interval(contrast, 0.0, 4.0, "contrast")
        self.offset = check_interval(offset, -128.0, 128.0, "offset")
        self.min_change = check_range(min_change, 0.0, 128.0, "min_change")
        self.grain_prob = check_range(grain_prob, 0.0, 1.0, "grain_prob")
        self.grain = check_interval(grain, 0.0, 128.0, "grain")
        self.softness = check_interval(softness, 0.0, 32.0, "softness")

    def config(self) -> dict[str, Any]:
        return {
            "shapes": list(self.shapes),
            "coverage": list(self.coverage),
            "gain": list(self.gain),
            "contrast": list(self.contrast),
            "offset": list(self.offset),
            "min_change": self.min_change,
            "grain_prob": self.grain_prob,
            "grain": list(self.grain),
            "softness": list(self.softness),
        }

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        out, mask, drawn, attempt, forced = Fn.paint_until_changed(image, lambda: self._paint(image, rng))
        return SynthResult(out, mask, 1, {**drawn, "attempts": attempt, "forced_change": forced})

    # ------------------------------------------------------------------ drawing
    def _region(self, hw: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        h, w = hw
        share = float(rng.uniform(*self.coverage))
        shape = str(rng.choice(self.shapes))
        if shape == "band":
            edge = str(rng.choice(("top", "bottom", "left", "right")))
            along, across = (w, h) if edge in ("top", "bottom") else (h, w)
            t = np.linspace(0.0, 1.0, along)
            curve = np.zeros(along)
            for _ in range(int(rng.integers(2, 4))):  # low-frequency wiggles of the boundary line
                freq, phase = float(rng.uniform(0.3, 2.0)), float(rng.uniform(0, 2 * np.pi))
                curve += float(rng.uniform(0.0, 0.12)) * np.sin(2 * np.pi * freq * t + phase)
            curve += float(rng.uniform(-0.15, 0.15)) * (t - 0.5)  # a slant
            depth = np.clip(share + curve - curve.mean(), 0.0, 1.0) * across
            pos = np.arange(across)[:, None]  # across × along
            region = pos < depth[None, :]
            if edge in ("bottom", "right"):
                region = region[::-1]
            if edge in ("left", "right"):
                region = region.T
            return np.ascontiguousarray(region), {"shape": "band", "edge": edge, "coverage": share}
        res = 2 ** int(rng.integers(0, 2))
        noise = perlin_2d((h, w), (res, res), rng)
        thr = float(np.quantile(noise, 1.0 - share))
        return noise > thr, {"shape": "blob", "lattice": res, "coverage": share}

    def _paint(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
        import cv2

        H, W, C = image.shape
        region, params = self._region((H, W), rng)
        if not region.any():
            region[H // 2 :, :] = True
        img = image.astype(np.float32)
        mean = img[region].mean(0) if region.any() else img.reshape(-1, C).mean(0)
        for _ in range(20):  # a visible change: the mean moved or the contrast changed enough
            gain = float(rng.uniform(*self.gain))
            contrast = float(rng.uniform(*self.contrast))
            offset = float(rng.uniform(*self.offset))
            moved = float(np.abs(mean * (gain - 1.0) + offset).max())
            if moved >= self.min_change or abs(contrast - 1.0) * 100 >= self.min_change:
                break
        shaded = (img - mean) * contrast + mean * gain + offset
        grain_amp = 0.0
        if rng.random() < self.grain_prob:
            grain_amp = float(rng.uniform(*self.grain))
            vertical = bool(rng.random() < 0.5)
            g = rng.standard_normal((H, W)).astype(np.float32)
            k = max(3, (H if vertical else W) // 4) | 1
            g = cv2.blur(g, (1, k) if vertical else (k, 1))
            g *= grain_amp / max(float(g.std()), 1e-6)
            shaded += g[:, :, None]
            params["grain_direction"] = "vertical" if vertical else "horizontal"
        soft = float(rng.uniform(*self.softness))
        alpha = region.astype(np.float32)
        if soft > 0:
            alpha = cv2.GaussianBlur(alpha, (0, 0), soft)
            alpha = np.where(region, np.maximum(alpha, 0.5), alpha)  # the region itself stays mostly shaded
        alpha = alpha[:, :, None]
        out = np.clip(np.rint(alpha * shaded + (1 - alpha) * img), 0, 255).astype(np.uint8)
        out[~(alpha[..., 0] > 0)] = image[~(alpha[..., 0] > 0)]
        params.update(gain=gain, contrast=contrast, offset=offset, grain=grain_amp, softness=soft)
        if not np.isfinite(shaded).all():
            raise ConfigError("shading: non-finite values (check the parameters)")
        return out, region.astype(np.uint8), params

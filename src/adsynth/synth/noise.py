"""Noise inside random regions: the corruption denoising autoencoders learn to remove.

Gaussian, uniform or salt-and-pepper noise is added inside 1-3 random rectangles or ellipses. The mask
is exactly the pixels whose value changed (noise that rounds to zero change is not marked).
"""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np

from adsynth._validation import check_interval
from adsynth.errors import ConfigError
from adsynth.synth import functional as Fn
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator

KINDS = ("gaussian", "uniform", "salt_pepper")
SHAPES = ("rect", "ellipse")


@register_generator("noise")
class Noise(Generator):
    """Noise in random regions.

    Args:
        kinds: noise kinds drawn from (``gaussian``, ``uniform``, ``salt_pepper``).
        count: (min, max) number of regions.
        area: (min, max) area of each region as a fraction of the image.
        shapes: region shapes drawn from (``rect``, ``ellipse``).
        sigma: (min, max) standard deviation of Gaussian noise (grey levels).
        amplitude: (min, max) half-width of uniform noise (grey levels).
        amount: (min, max) fraction of pixels hit by salt-and-pepper noise.
        per_channel: independent noise per colour channel (else the same for all channels).
        p: probability inside an albumentations pipeline.
    """

    family: ClassVar[str] = "noise"
    paper: ClassVar[str] = "Vincent et al., denoising autoencoders, ICML 2008"
    description: ClassVar[str] = "Gaussian / uniform / salt-and-pepper noise inside random regions"

    def __init__(
        self,
        kinds: tuple[str, ...] = KINDS,
        count: tuple[int, int] = (1, 3),
        area: tuple[float, float] = (0.01, 0.08),
        shapes: tuple[str, ...] = SHAPES,
        sigma: tuple[float, float] = (15.0, 50.0),
        amplitude: tuple[float, float] = (20.0, 80.0),
        amount: tuple[float, float] = (0.05, 0.3),
        per_channel: bool = True,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.kinds = _choices(kinds, KINDS, "kinds")
        self.shapes = _choices(shapes, SHAPES, "shapes")
        lo, hi = check_interval(count, 1, 64, "count")
        self.count = (int(lo), int(hi))
        self.area = check_interval(area, 1e-4, 0.9, "area")
        self.sigma = check_interval(sigma, 0.1, 255, "sigma")
        self.amplitude = check_interval(amplitude, 1, 255, "amplitude")
        self.amount = check_interval(amount, 1e-3, 1.0, "amount")
        if not isinstance(per_channel, (bool, np.bool_)):
            raise ConfigError(f"expected `per_channel` to be true or false, got {per_channel!r}")
        self.per_channel = bool(per_channel)

    def config(self) -> dict[str, Any]:
        return {
            "kinds": list(self.kinds),
            "count": list(self.count),
            "area": list(self.area),
            "shapes": list(self.shapes),
            "sigma": list(self.sigma),
            "amplitude": list(self.amplitude),
            "amount": list(self.amount),
            "per_channel": self.per_channel,
        }

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        out, mask, regions, attempt, forced = Fn.paint_until_changed(image, lambda: self._paint(image, rng))
        return SynthResult(out, mask, 1, {"regions": regions, "attempts": attempt, "forced_change": forced})

    def _paint(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list]:
        """One try: (noisy copy, last region, what was drawn)."""
        H, W, C = image.shape
        out = image.copy()
        regions = []
        for region, rp in Fn.random_regions((H, W), rng, self.count, self.shapes, self.area):
            kind = self.kinds[int(rng.integers(len(self.kinds)))]
            bx, by, bw, bh = cv2.boundingRect(region)
            if bw == 0 or bh == 0:
                continue
            y0, y1, x0, x1 = by, by + bh, bx, bx + bw
            sub = out[y0:y1, x0:x1].astype(np.float32)
            inside = region[y0:y1, x0:x1].astype(bool)
            nc = C if self.per_channel else 1
            shp = (y1 - y0, x1 - x0, nc)
            if kind == "gaussian":
                level = float(rng.uniform(*self.sigma))
                noisy = sub + rng.standard_normal(shp, dtype=np.float32) * np.float32(level)
            elif kind == "uniform":
                level = float(rng.uniform(*self.amplitude))
                noisy = sub + (rng.random(shp, dtype=np.float32) * 2 - 1) * np.float32(level)
            else:
                level = float(rng.uniform(*self.amount))
                u = rng.random(shp[:2], dtype=np.float32)[:, :, None]
                noisy = np.where(u < level / 2, 0.0, np.where(u < level, 255.0, sub))
            noisy = np.clip(noisy, 0, 255).round().astype(np.uint8)
            patch = out[y0:y1, x0:x1]
            patch[inside] = np.broadcast_to(noisy, patch.shape)[inside]
            regions.append({**rp, "noise": kind, "level": level})
        return out, region, regions


def _choices(values: Any, valid: tuple[str, ...], name: str) -> tuple[str, ...]:
    vals = (values,) if isinstance(values, str) else tuple(values)
    bad = [v for v in vals if v not in valid]
    if not vals or bad:
        raise ConfigError(f"expected `{name}` to be a non-empty subset of {', '.join(valid)}, got {values!r}")
    return vals

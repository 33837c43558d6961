"""Random erasure of arbitrary shapes (ellipses, polygons, brush strokes) with a fill colour.

Generalises random erasing (Zhong et al., AAAI 2020) from rectangles to the shapes of real surface
defects (holes, stains, scratches). The mask is exactly the pixels whose value changed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from adsynth._validation import check_interval
from adsynth.errors import ConfigError
from adsynth.synth import functional as Fn
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator
from adsynth.synth.noise import _choices

SHAPES = ("ellipse", "polygon", "brush", "rect")


@register_generator("erasure")
class Erasure(Generator):
    """Erase random shapes.

    Args:
        shapes: shapes drawn from (``ellipse``, ``polygon``, ``brush``, ``rect``).
        count: (min, max) number of shapes.
        area: (min, max) area of each shape as a fraction of the image.
        fill: ``"random"`` (a random colour per shape), ``"noise"`` (uniform noise), ``"mean"`` (the
            image mean) or a grey level 0-255.
        p: probability inside an albumentations pipeline.
    """

    family: ClassVar[str] = "erasure"
    paper: ClassVar[str] = "Zhong et al., Random Erasing Data Augmentation, AAAI 2020"
    description: ClassVar[str] = "random erasure of ellipses, polygons and brush strokes with a fill colour"

    def __init__(
        self,
        shapes: tuple[str, ...] = ("ellipse", "polygon", "brush"),
        count: tuple[int, int] = (1, 3),
        area: tuple[float, float] = (0.005, 0.05),
        fill: str | int = "random",
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.shapes = _choices(shapes, SHAPES, "shapes")
        lo, hi = check_interval(count, 1, 64, "count")
        self.count = (int(lo), int(hi))
        self.area = check_interval(area, 1e-4, 0.9, "area")
        if isinstance(fill, str):
            if fill not in ("random", "noise", "mean"):
                raise ConfigError(f"expected `fill` to be random, noise, mean or 0-255, got {fill!r}")
        elif isinstance(fill, bool) or not isinstance(fill, (int, np.integer)) or not 0 <= fill <= 255:
            raise ConfigError(f"expected `fill` to be random, noise, mean or 0-255, got {fill!r}")
        self.fill = fill if isinstance(fill, str) else int(fill)

    def config(self) -> dict[str, Any]:
        return {
            "shapes": list(self.shapes),
            "count": list(self.count),
            "area": list(self.area),
            "fill": self.fill,
        }

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        out, mask, drawn, attempt, forced = Fn.paint_until_changed(image, lambda: self._paint(image, rng))
        return SynthResult(out, mask, 1, {"shapes": drawn, "attempts": attempt, "forced_change": forced})

    def _paint(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list]:
        """One try: (erased copy, last region, what was drawn)."""
        H, W, C = image.shape
        out = image.copy()
        drawn = []
        for region, rp in Fn.random_regions((H, W), rng, self.count, self.shapes, self.area):
            inside = region.astype(bool)
            if self.fill == "noise":
                out[inside] = rng.integers(0, 256, (int(inside.sum()), C), dtype=np.uint8)
                colour: Any = "noise"
            else:
                if self.fill == "random":
                    colour = rng.integers(0, 256, C).tolist()
                elif self.fill == "mean":
                    colour = image.reshape(-1, C).mean(0).round().astype(int).tolist()
                else:
                    colour = [self.fill] * C
                out[inside] = np.asarray(colour, np.uint8)
            drawn.append({**rp, "fill": colour})
        return out, region, drawn

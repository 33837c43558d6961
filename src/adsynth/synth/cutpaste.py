"""CutPaste, CutPaste-Scar and CutPaste 3-way (Li, Sohn, Yoon, Pfister, CVPR 2021).

A patch is cut from the image itself, colour-jittered and pasted elsewhere with no blending:

* **cutpaste**: a rectangle of 2-15 % of the image area, aspect ratio log-uniform in [0.3, 1/0.3];
* **cutpaste-scar**: a thin rectangle (width 2-16, height 10-25 px) rotated by ±45°, pasted through
  its rotated support so the corners stay transparent;
* **cutpaste-3way**: cutpaste (label 1) or scar (label 2) with equal probability, for the 3-way
  classifier of the paper.

The three are one builder with different settings (``mode``). The mask is exactly the pixels that
changed; a draw that changes nothing (a patch pasted onto identical content) is redrawn.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from adsynth._validation import check_interval, check_range
from adsynth.synth import functional as Fn
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator

_PAPER = "Li et al., CutPaste: Self-Supervised Learning for Anomaly Detection and Localization, CVPR 2021"
_ATTEMPTS = 10


class _CutPasteBase(Generator):
    """Shared builder of the CutPaste variants.

    Args:
        area_ratio: (min, max) patch area as a fraction of the image (cutpaste).
        aspect_ratio: the aspect ratio is log-uniform in [aspect_ratio, 1/aspect_ratio] (cutpaste).
        scar_width: (min, max) scar width in pixels, scaled by image side / 256.
        scar_height: (min, max) scar height in pixels, scaled by image side / 256.
        rotation: (min, max) scar rotation in degrees.
        color_jitter: brightness/contrast/saturation/hue jitter strength of the patch.
        p: probability inside an albumentations pipeline.
    """

    family: ClassVar[str] = "cutpaste"
    paper: ClassVar[str] = _PAPER
    mode: ClassVar[str] = "normal"

    def __init__(
        self,
        area_ratio: tuple[float, float] = (0.02, 0.15),
        aspect_ratio: float = 0.3,
        scar_width: tuple[float, float] = (2, 16),
        scar_height: tuple[float, float] = (10, 25),
        rotation: tuple[float, float] = (-45, 45),
        color_jitter: float = 0.1,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.area_ratio = check_interval(area_ratio, 1e-4, 0.9, "area_ratio")
        self.aspect_ratio = check_range(aspect_ratio, 0.01, 1.0, "aspect_ratio")
        self.scar_width = check_interval(scar_width, 1, 4096, "scar_width")
        self.scar_height = check_interval(scar_height, 1, 4096, "scar_height")
        self.rotation = check_interval(rotation, -180, 180, "rotation")
        self.color_jitter = check_range(color_jitter, 0.0, 0.5, "color_jitter")

    def config(self) -> dict[str, Any]:
        return {
            "area_ratio": list(self.area_ratio),
            "aspect_ratio": self.aspect_ratio,
            "scar_width": list(self.scar_width),
            "scar_height": list(self.scar_height),
            "rotation": list(self.rotation),
            "color_jitter": self.color_jitter,
        }

    # ------------------------------------------------------------------ draws
    def _normal(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
        H, W = image.shape[:2]
        area = float(rng.uniform(*self.area_ratio)) * H * W
        log_a = math.log(self.aspect_ratio)
        aspect = float(math.exp(rng.uniform(log_a, -log_a)))
        cw = int(min(W - 1, max(1, round(math.sqrt(area * aspect)))))
        ch = int(min(H - 1, max(1, round(math.sqrt(area / aspect)))))
        sy, sx = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
        patch, jitter = Fn.color_jitter(image[sy : sy + ch, sx : sx + cw], rng, self.color_jitter)
        dy, dx = int(rng.integers(0, H - ch + 1)), int(rng.integers(0, W - cw + 1))
        out = Fn.paste(image, patch, dy, dx)
        mask = Fn.box_changed(out, image, dy, dx, ch, cw)
        params = {
            "variant": "cutpaste",
            "area_fraction": ch * cw / (H * W),
            "aspect": aspect,
            "size": [ch, cw],
            "from": [sy, sx],
            "to": [dy, dx],
            "box": [dy, dx, ch, cw],
            "jitter": jitter,
        }
        return out, mask, params

    def _scar(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
        H, W = image.shape[:2]
        scale = min(H, W) / 256.0
        w = int(max(1, min(W - 1, round(rng.uniform(*self.scar_width) * scale))))
        h = int(max(1, min(H - 1, round(rng.uniform(*self.scar_height) * scale))))
        sy, sx = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
        patch, jitter = Fn.color_jitter(image[sy : sy + h, sx : sx + w], rng, self.color_jitter)
        angle = float(rng.uniform(*self.rotation))
        rot, support = Fn.rotate_with_alpha(patch, angle)
        rh, rw = rot.shape[:2]
        if rh >= H or rw >= W:  # tiny images: fall back to the unrotated scar
            rot, support, angle = patch, np.ones(patch.shape[:2], bool), 0.0
            rh, rw = rot.shape[:2]
        dy, dx = int(rng.integers(0, H - rh + 1)), int(rng.integers(0, W - rw + 1))
        out = Fn.paste(image, rot, dy, dx, support)
        mask = Fn.box_changed(out, image, dy, dx, rh, rw)
        params = {
            "variant": "scar",
            "size": [h, w],
            "angle": angle,
            "from": [sy, sx],
            "to": [dy, dx],
            "box": [dy, dx, rh, rw],
            "jitter": jitter,
        }
        return out, mask, params

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        mode = self.mode
        if mode == "3way":
            mode = "normal" if rng.random() < 0.5 else "scar"
        draw = self._normal if mode == "normal" else self._scar
        for attempt in range(1, _ATTEMPTS + 1):  # noqa: B007 (read after the loop)
            out, mask, params = draw(image, rng)
            if mask.any():
                break
        else:
            # Featureless content (e.g. a constant image): nudge the pasted pixels so the defect exists.
            y, x, h, w = params["box"]
            region = out[y : y + h, x : x + w].astype(np.int16)
            region += np.where(region < 128, 24, -24).astype(np.int16)
            out[y : y + h, x : x + w] = region.astype(np.uint8)
            mask = Fn.changed_mask(out, image)
            params["forced_change"] = True
        params["attempts"] = attempt
        return SynthResult(out, mask, 1 if mode == "normal" else (2 if self.mode == "3way" else 1), params)


@register_generator("cutpaste")
class CutPaste(_CutPasteBase):
    description = "a rectangular patch (2-15 % of the area) cut, colour-jittered and pasted elsewhere"
    mode = "normal"


@register_generator("cutpaste-scar")
class CutPasteScar(_CutPasteBase):
    description = "a thin patch (2-16 × 10-25 px) rotated ±45° and pasted elsewhere"
    mode = "scar"


@register_generator("cutpaste-3way")
class CutPaste3Way(_CutPasteBase):
    description = "cutpaste (label 1) or scar (label 2) with equal probability"
    mode = "3way"

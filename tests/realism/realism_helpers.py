"""A toy line for the realism tests: brick crops, and real defects that are small dark ellipses."""

from __future__ import annotations

import numpy as np

#: a recipe that makes defects like the toy ones (small dark ellipses)
MIMIC = """\
name: mimic
generators:
  - name: erasure
    params: {shapes: [ellipse], count: [1, 1], area: [0.01, 0.03], fill: 15}
"""
#: a recipe unlike them (large bright patches)
UNRELATED = """\
name: unrelated
generators:
  - name: erasure
    params: {shapes: [rect], count: [1, 1], area: [0.2, 0.35], fill: 250}
"""


def dark_ellipse(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    center = (int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4)))
    axes = (int(rng.integers(h // 16 + 1, h // 8 + 2)), int(rng.integers(h // 16 + 1, h // 8 + 2)))
    cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    out = img.copy()
    out[mask > 0] = (out[mask > 0] * 0.1).astype(np.uint8)
    return out, mask


def write_toy_line(path, size: int = 64, n_normal: int = 10, n_defects: int = 6, defects: bool = True):
    """Normal brick crops in train; ``n_defects`` dark-ellipse defects in train (type ``spot``) and two
    in test."""
    from adsynth.data.samples import sample_images
    from adsynth.data.writer import DatasetWriter

    imgs = sample_images("brick", n=n_normal + n_defects + 2, size=size, seed=3)
    rng = np.random.default_rng(7)
    with DatasetWriter(path, height=size, width=size, channels=1, seed=0, settings={}) as w:
        for name, img in imgs[:n_normal]:
            w.append(img, name=name)
        for k, (name, img) in enumerate(imgs[n_normal:]):
            split = "train" if k < n_defects else "test"
            if not defects and split == "train":
                w.append(img, name=name, split="test")
                continue
            out, mask = dark_ellipse(img, rng)
            w.append(out, mask, label=1, defect_type="spot", split=split, name=name)
    return path

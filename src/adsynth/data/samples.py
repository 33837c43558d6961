"""Bundled sample images: crops of scikit-image's textures and photos (shipped in its wheel, offline).

They stand in for a factory's photos so the README's first command and the demo run anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from adsynth.errors import ConfigError

if TYPE_CHECKING:  # numpy is imported where it is used: the CLI reads SAMPLES for its --help
    import numpy as np

#: name -> (skimage.data function, colour)
SAMPLES = {
    "brick": ("brick", "gray"),
    "grass": ("grass", "gray"),
    "gravel": ("gravel", "gray"),
    "coffee": ("coffee", "rgb"),
    "tissue": ("immunohistochemistry", "rgb"),
}


def sample_source(name: str) -> np.ndarray:
    """The full bundled image ``name`` as H×W×C uint8."""
    import numpy as np
    import skimage.data

    if name not in SAMPLES:
        raise ConfigError(f"unknown sample {name!r} (valid: {', '.join(SAMPLES)})")
    img = getattr(skimage.data, SAMPLES[name][0])()
    if img.ndim == 2:
        img = img[:, :, None]
    return np.ascontiguousarray(img[:, :, :3]).astype(np.uint8)


def sample_images(
    name: str = "brick", n: int = 32, size: int = 128, seed: int = 0
) -> list[tuple[str, np.ndarray]]:
    """``n`` seeded crops (with flips) of the bundled image ``name``, resized to ``size``×``size``.

    Example:
        >>> imgs = sample_images("brick", n=2, size=64)
        >>> [im.shape for _, im in imgs]
        [(64, 64, 1), (64, 64, 1)]
    """
    import cv2
    import numpy as np

    src = sample_source(name)
    rng = np.random.default_rng(seed)
    h, w = src.shape[:2]
    crop = min(h, w) // 2
    out = []
    for i in range(n):
        y, x = int(rng.integers(0, h - crop + 1)), int(rng.integers(0, w - crop + 1))
        c = src[y : y + crop, x : x + crop]
        if rng.random() < 0.5:
            c = c[:, ::-1]
        r = cv2.resize(np.ascontiguousarray(c), (size, size), interpolation=cv2.INTER_AREA)
        out.append((f"{name}_{i:04d}.png", r.reshape(size, size, -1)))
    return out


def write_sample_dataset(
    out, name: str = "brick", n: int = 32, size: int = 128, seed: int = 0, overwrite: bool = False
):
    """Write the bundled sample images as a dataset of normal training images."""
    from adsynth.data.writer import DatasetWriter

    imgs = sample_images(name, n, size, seed)
    c = imgs[0][1].shape[2]
    settings = {"importer": "samples", "sample": name, "n": n, "size": [size, size]}
    with DatasetWriter(
        out, height=size, width=size, channels=c, seed=seed, settings=settings, overwrite=overwrite
    ) as w:
        for fname, img in imgs:
            w.append(img, name=fname, source=f"skimage.data.{SAMPLES[name][0]}", provenance={"sample": name})
    return out

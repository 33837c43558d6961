"""Texture sources for the texture-blending generators (DRAEM's "anomaly source" images).

A :class:`TextureSource` hands out one RGB uint8 texture of a requested size per draw. It reads a user
folder (for example the DTD ``images/`` folder, searched recursively) when one is given; otherwise it
falls back to textures that need no download: the photographs and textures bundled in scikit-image's
wheel (``brick``, ``grass``, ``gravel``, ``coffee``, ...) and procedural fields (Perlin colour noise,
stripes, checkerboards). Every choice is drawn from the ``rng`` passed to :meth:`TextureSource.draw`.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from adsynth._validation import check_positive_int
from adsynth.data.images import is_image_file, read_image
from adsynth.errors import ConfigError, DataError
from adsynth.synth.perlin import perlin_2d

BUILTINS = ("all", "skimage", "procedural")
SKIMAGE_TEXTURES = (
    "brick",
    "grass",
    "gravel",
    "coffee",
    "chelsea",
    "astronaut",
    "rocket",
    "hubble_deep_field",
)
PROCEDURAL_TEXTURES = ("perlin", "stripes", "checker")


def _as_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    if img.shape[:2] == (h, w):
        return img
    shrink = img.shape[0] > h or img.shape[1] > w
    out = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return out if out.ndim == 3 else out[:, :, None]


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def procedural_texture(
    kind: str, shape: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """One procedural RGB uint8 texture of ``shape`` and the parameters drawn for it.

    Args:
        kind: ``"perlin"`` (a colour field: Perlin noise per channel around a random colour),
            ``"stripes"`` or ``"checker"`` (two random colours, random period and angle).
        shape: (H, W).
        rng: the only source of randomness.

    Example:
        >>> import numpy as np
        >>> t, info = procedural_texture("stripes", (32, 48), np.random.default_rng(0))
        >>> t.shape, t.dtype.name, info["texture"]
        ((32, 48, 3), 'uint8', 'procedural:stripes')
    """
    h, w = shape
    info: dict[str, Any] = {"texture": f"procedural:{kind}"}
    if kind == "perlin":
        k = int(rng.integers(1, 5))
        base, amp = _colour(rng), float(rng.uniform(40, 160))
        chans = [perlin_2d((h, w), (2**k, 2**k), rng) for _ in range(3)]
        out = base + amp * np.stack(chans, axis=2)
        info.update(scale=2**k, colour=base.astype(int).tolist(), amplitude=amp)
        return np.clip(out, 0, 255).astype(np.uint8), info
    if kind in ("stripes", "checker"):
        period = float(rng.uniform(4.0, 32.0))
        angle = float(rng.uniform(0.0, 180.0))
        c0, c1 = _colour(rng), _colour(rng)
        a = math.radians(angle)
        y = np.arange(h, dtype=np.float32)[:, None]
        x = np.arange(w, dtype=np.float32)[None, :]
        sel = np.floor((x * math.cos(a) + y * math.sin(a)) / period).astype(np.int64)
        if kind == "checker":
            sel += np.floor((y * math.cos(a) - x * math.sin(a)) / period).astype(np.int64)
        palette = np.stack([c0, c1]).astype(np.uint8)
        info.update(period=period, angle=angle, colours=palette.astype(int).tolist())
        return palette[sel & 1], info
    raise ConfigError(f"expected a procedural texture in {PROCEDURAL_TEXTURES}, got {kind!r}")


class TextureSource:
    """Textures from a folder, or bundled and procedural ones when no folder is given.

    Args:
        folder: a folder of texture images (png, jpg, jpeg, bmp, tif; searched recursively). Files are
            listed when the source is built, decoded on first use and kept resized in a bounded cache.
        builtin: without ``folder``: ``"all"`` (scikit-image textures and procedural ones),
            ``"skimage"`` or ``"procedural"``.
        cache_size: how many resized textures to keep in memory.

    Raises:
        ConfigError: the folder does not exist or holds no image file; an unknown ``builtin``.
        DataError (from :meth:`draw`): a texture file that cannot be decoded, naming the file.

    Example:
        >>> import numpy as np
        >>> src = TextureSource(builtin="skimage")
        >>> tex, info = src.draw(np.random.default_rng(0), (64, 64))
        >>> tex.shape, info["texture"].startswith("skimage:")
        ((64, 64, 3), True)
    """

    def __init__(
        self, folder: str | os.PathLike | None = None, builtin: str = "all", cache_size: int = 512
    ) -> None:
        if builtin not in BUILTINS:
            raise ConfigError(f"expected `builtin` to be one of {BUILTINS}, got {builtin!r}")
        self.folder = None if folder is None else str(folder)
        self.builtin = builtin
        self.cache_size = check_positive_int(cache_size, "cache_size")
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        if self.folder is not None:
            root = Path(self.folder)
            if not root.is_dir():
                raise ConfigError(f"`textures` folder {root} does not exist or is not a folder")
            self.files = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))
            if not self.files:
                raise ConfigError(f"`textures` folder {root} holds no image files (png, jpg, bmp, tif)")
            self.names = [str(p.relative_to(root)) for p in self.files]
        else:
            self.files = []
            kinds = {"all": ("skimage", "procedural"), "skimage": ("skimage",), "procedural": ("procedural",)}
            self.names = []
            if "skimage" in kinds[builtin]:
                self.names += [f"skimage:{n}" for n in SKIMAGE_TEXTURES]
            if "procedural" in kinds[builtin]:
                self.names += [f"procedural:{n}" for n in PROCEDURAL_TEXTURES]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        where = f"folder={self.folder!r}" if self.folder else f"builtin={self.builtin!r}"
        return f"TextureSource({where}, {len(self)} textures)"

    def config(self) -> dict[str, Any]:
        return {"folder": self.folder, "builtin": self.builtin}

    def _cached(self, key: tuple, load) -> np.ndarray:
        img = self._cache.get(key)
        if img is None:
            img = load()
            self._cache[key] = img
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return img

    def _load_file(self, i: int, h: int, w: int) -> np.ndarray:
        path = self.files[i]
        try:
            img = read_image(path)
        except DataError as e:
            raise DataError(f"texture file {path}: {e}") from None
        return _resize(_as_rgb(img), h, w)

    @staticmethod
    def _load_skimage(name: str) -> np.ndarray:
        import skimage.data

        img = _as_rgb(np.asarray(getattr(skimage.data, name)(), dtype=np.uint8))
        # Crops are resized to the working size (≤ a few hundred px); keep the decoded copy small.
        f = 384 / min(img.shape[:2])
        return _resize(img, round(img.shape[0] * f), round(img.shape[1] * f)) if f < 1 else img

    def draw(self, rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw one RGB uint8 texture of ``shape`` (H, W) and a JSON-serialisable description of it.

        Folder textures are resized whole (as DRAEM resizes DTD images); bundled photographs are cropped
        at a random position and size (half to all of the shorter side) first, for variety.
        """
        h, w = int(shape[0]), int(shape[1])
        i = int(rng.integers(len(self.names)))
        name = self.names[i]
        if self.folder is not None:
            tex = self._cached(("file", i, h, w), lambda: self._load_file(i, h, w))
            return tex, {"texture": name}
        kind, _, sub = name.partition(":")
        if kind == "procedural":
            return procedural_texture(sub, (h, w), rng)
        full = self._cached(("skimage", sub), lambda: self._load_skimage(sub))
        fh, fw = full.shape[:2]
        side = float(rng.uniform(0.5, 1.0)) * min(fh, fw)
        ch = max(2, min(fh, int(round(side * min(1.0, h / w)))))
        cw = max(2, min(fw, int(round(side * min(1.0, w / h)))))
        y0 = int(rng.integers(0, fh - ch + 1))
        x0 = int(rng.integers(0, fw - cw + 1))
        tex = _resize(full[y0 : y0 + ch, x0 : x0 + cw], h, w)
        return np.ascontiguousarray(tex), {"texture": name, "crop": [y0, x0, y0 + ch, x0 + cw]}


def as_texture_source(
    textures: str | os.PathLike | TextureSource | None, builtin: str = "all"
) -> TextureSource:
    """A :class:`TextureSource` from a folder path, an existing source, or ``None`` (built-in textures)."""
    if isinstance(textures, TextureSource):
        return textures
    if textures is None or isinstance(textures, (str, os.PathLike)):
        return TextureSource(textures, builtin=builtin)
    raise ConfigError(
        f"expected `textures` to be a folder path or a TextureSource, got {type(textures).__name__}"
    )

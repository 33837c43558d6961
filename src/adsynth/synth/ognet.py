"""Old-is-Gold pseudo-anomalies: the ``ognet`` generator (OGNet, Zaheer et al., CVPR 2020; METHODS §5).

OGNet's phase two teaches the discriminator that the average of two *different* normal images is not
normal: ``X_pseudo = G((G_old(X_i) + G_old(X_j)) / 2)``, with ``G_old`` the generator after its first
epoch and ``G`` the current one. Without generators the pseudo-anomaly is the plain pixel average of
the two images. The result is a label-only sample: label 1, an all-zero mask.

The generators are plain functions (:data:`Reconstructor`). This module never imports the zoo: a
recipe that names a trained checkpoint gets its function from a :data:`CheckpointLoader` given by the
caller (``adsynth.zoo.checkpoint.load_reconstructor``; ``adsynth generate`` passes
``adsynth.pipeline.checkpoint_reconstructor``, which imports the zoo only when called).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from adsynth.errors import ConfigError, DataError
from adsynth.synth.base import Generator, SynthContext, SynthResult, register_generator

#: ``fn(image) -> image``: an H×W×C (or H×W) uint8 image in, a uint8 image of the same shape out.
Reconstructor = Callable[[np.ndarray], np.ndarray]
#: ``load(checkpoint_path) -> Reconstructor``, e.g. ``adsynth.zoo.checkpoint.load_reconstructor``.
CheckpointLoader = Callable[[str], Reconstructor]


def average_images(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixel average of two uint8 images, rounded half up: ``(a + b + 1) // 2``.

    Example:
        >>> import numpy as np
        >>> average_images(np.array([[1, 2]], np.uint8), np.array([[2, 255]], np.uint8)).tolist()
        [[2, 129]]
    """
    return ((a.astype(np.uint16) + b.astype(np.uint16) + 1) // 2).astype(np.uint8)


def _match(img: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``img`` resized and converted to ``shape`` (H, W, C) with C in {1, 3}."""
    h, w, c = shape
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[:2] != (h, w):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        img = img if img.ndim == 3 else img[:, :, None]
    if img.shape[2] != c:
        rgb = np.ascontiguousarray(img[:, :, :3])
        img = (
            cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None]
            if c == 1
            else np.repeat(img[:, :, :1], 3, axis=2)
        )
    return img


def _call(fn: Reconstructor, x: np.ndarray, what: str) -> np.ndarray:
    y = fn(x)
    if not isinstance(y, np.ndarray) or y.dtype != np.uint8 or y.shape != x.shape:
        got = f"{getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}"
        raise DataError(f"ognet: `{what}` must return a uint8 array of shape {x.shape}, got {got}")
    return y


@register_generator("ognet")
class OGNetGenerator(Generator):
    """Average the image with a different normal image from the pool (OGNet's pseudo-anomaly).

    Without reconstructors the output is ``average_images(image, partner)``. With them it follows OGNet
    phase two exactly: ``reconstructor(average_images(old_reconstructor(image),
    old_reconstructor(partner)))``, where ``old_reconstructor`` is OGNet's ``G_old`` (the generator after
    its first epoch, ``low_epoch = 0``) and ``reconstructor`` is the current ``G``; ``old_reconstructor``
    defaults to ``reconstructor``. Each is a :data:`Reconstructor`: a function taking and returning an
    H×W×C uint8 image. ``checkpoint`` names a trained reconstruction model instead (``ae``, ``vae``,
    ``ognet``, ...): on first use, ``checkpoint_loader(checkpoint)`` turns it into the function that
    serves as both ``G`` and ``G_old`` (so each worker process loads its own copy, and torch is imported
    only then). Pass :func:`adsynth.zoo.checkpoint.load_reconstructor` as ``checkpoint_loader``; recipes
    get it from ``load_recipe(..., checkpoint_loader=...)``. The average is
    computed on uint8 images, rounded half up (OGNet averages float tensors; the difference is at most
    half a grey level).

    The partner is never the image itself when the pool holds another image
    (``SynthContext.index`` tells which pool entry is the current image); a pool that holds only the
    current image is an error. Partners of another size are resized (area interpolation).

    The sample is label-only: label 1 and an all-zero mask (the whole image is anomalous, no region is).
    Callables cannot be serialised: :meth:`config` holds only ``checkpoint`` when one was given (a
    generator rebuilt from an empty config averages plain images; one rebuilt from ``checkpoint`` needs
    a ``checkpoint_loader`` again), and each result's params record whether reconstructors were used.

    Args:
        reconstructor: OGNet's current generator ``G`` applied after averaging, or None.
        old_reconstructor: OGNet's ``G_old`` applied to both images before averaging (default: same as
            ``reconstructor``).
        checkpoint: path of a reconstruction checkpoint (``model.pt``) to use as ``reconstructor``.
        checkpoint_loader: turns ``checkpoint`` into a :data:`Reconstructor` (required with
            ``checkpoint``, ignored without it).
        p: albumentations application probability.
        sources: the pool of other normal images when used as an albumentations transform.

    Example:
        >>> import numpy as np
        >>> a, b = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 200, np.uint8)
        >>> res = OGNetGenerator(sources=[b]).synthesize(a, rng=0)
        >>> int(res.image.max()), int(res.mask.sum()), res.label
        (100, 0, 1)
    """

    family = "ognet"
    paper = "OGNet: Zaheer, Lee, Astrid, Lee, CVPR 2020"
    description = "pixel average of the image and another normal image (optionally through generators)"
    label_only = True
    mask_is_changed_pixels = False
    needs_pool = True

    def __init__(
        self,
        reconstructor: Reconstructor | None = None,
        old_reconstructor: Reconstructor | None = None,
        checkpoint: str | None = None,
        checkpoint_loader: CheckpointLoader | None = None,
        p: float = 1.0,
        sources: Sequence[np.ndarray] | None = None,
    ) -> None:
        super().__init__(p=p, sources=sources)
        if checkpoint is not None and (not isinstance(checkpoint, str) or not checkpoint):
            raise ConfigError(f"expected `checkpoint` to be a path (str), got {checkpoint!r}")
        if checkpoint is not None and (reconstructor is not None or old_reconstructor is not None):
            raise ConfigError("give either `checkpoint` or reconstructor callables, not both")
        if checkpoint_loader is not None and not callable(checkpoint_loader):
            raise ConfigError(
                "expected `checkpoint_loader` to be a function (path -> reconstructor), "
                f"got {checkpoint_loader!r}"
            )
        if checkpoint is not None and checkpoint_loader is None:
            raise ConfigError(
                f"`checkpoint` {checkpoint!r} needs a `checkpoint_loader` (a function path -> reconstructor, "
                "e.g. adsynth.zoo.checkpoint.load_reconstructor); `adsynth generate` passes one"
            )
        self.checkpoint = checkpoint
        self.checkpoint_loader = checkpoint_loader if checkpoint is not None else None
        for name, fn in (("reconstructor", reconstructor), ("old_reconstructor", old_reconstructor)):
            if fn is not None and not callable(fn):
                raise ConfigError(
                    f"expected `{name}` to be a callable (uint8 H×W×C -> uint8 H×W×C), got {fn!r}"
                )
        if old_reconstructor is not None and reconstructor is None:
            raise ConfigError(
                "`old_reconstructor` needs `reconstructor` (OGNet re-passes the average through G)"
            )
        self.reconstructor = reconstructor
        self.old_reconstructor = old_reconstructor if old_reconstructor is not None else reconstructor

    def config(self) -> dict[str, Any]:
        return {} if self.checkpoint is None else {"checkpoint": self.checkpoint}

    def _load_checkpoint(self) -> None:
        assert self.checkpoint is not None and self.checkpoint_loader is not None  # checked in __init__
        fn = self.checkpoint_loader(self.checkpoint)
        if not callable(fn):
            raise ConfigError(f"`checkpoint_loader` returned {fn!r} for {self.checkpoint!r}, not a function")
        self.reconstructor = self.old_reconstructor = fn

    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        pool = context.pool
        assert pool is not None  # synthesize() checks needs_pool
        if context.index is not None and len(pool) == 1 and context.index == 0:
            raise ConfigError("ognet needs another normal image: the pool holds only the current image")
        j = pool.draw_other(rng, exclude=context.index)
        partner = _match(np.asarray(pool.get(j)), image.shape)
        if self.reconstructor is None and self.checkpoint is not None:
            self._load_checkpoint()
        if self.reconstructor is None:
            out = average_images(image, partner)
        else:
            old = self.old_reconstructor
            mixed = average_images(
                _call(old, image, "old_reconstructor"), _call(old, partner, "old_reconstructor")
            )
            out = _call(self.reconstructor, mixed, "reconstructor")
        params = {"partner": int(j), "reconstructed": self.reconstructor is not None}
        return SynthResult(
            image=out,
            mask=np.zeros(image.shape[:2], np.uint8),
            label=1,
            params=params,
            sources=[pool.name(j)],
        )

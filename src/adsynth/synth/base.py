"""The generator contract shared by every pseudo-anomaly generator.

A generator is an albumentations ``DualTransform``: it draws one defect per call from a random generator,
paints it into the image (``apply``) and ORs exactly the pixels it changed into the mask
(``apply_to_mask``). The same work is available without albumentations through
:meth:`Generator.synthesize`, which takes an explicit ``rng`` and returns a :class:`SynthResult` with
the parameters it drew (for provenance).

Subclasses implement :meth:`Generator.generate` on an H×W×C uint8 image (C = 1 or 3) and register
themselves with ``@register_generator("name")``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import albumentations as A  # noqa: E402
import numpy as np  # noqa: E402

from adsynth._validation import check_image, check_mask  # noqa: E402
from adsynth.errors import ConfigError  # noqa: E402
from adsynth.registry import Registry  # noqa: E402


def _set_name(name: str, cls: type) -> None:
    cls.name = name


GENERATORS: Registry[type[Generator]] = Registry("generator", on_register=_set_name)


@dataclass
class SynthResult:
    """What one generator call produced.

    Attributes:
        image: the defective image, same shape and dtype (uint8) as the input.
        mask: H×W uint8 0/1, the pixels the generator changed (all zeros for label-only generators).
        label: 0 normal, 1 anomalous; generators with several anomaly classes (cutpaste-3way) use 2, ...
        params: JSON-serialisable parameters the generator drew (recorded as provenance).
        sources: names of other images used (for example the patch source of ``poisson``).
    """

    image: np.ndarray
    mask: np.ndarray
    label: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)


class ImagePool:
    """Other normal images a generator may draw from (patch sources for ``poisson``, partners for ``ognet``).

    Args:
        images: a sequence of uint8 images, or any object with ``__len__`` and ``__getitem__`` returning one.
        names: optional names (default ``"pool[i]"``), recorded in provenance.

    Example:
        >>> import numpy as np
        >>> pool = ImagePool([np.zeros((8, 8, 3), np.uint8)] * 3)
        >>> pool.draw_other(np.random.default_rng(0), exclude=0) in (1, 2)
        True
    """

    def __init__(self, images: Sequence[np.ndarray], names: Sequence[str] | None = None) -> None:
        self.images = images
        self.names = list(names) if names is not None else [f"pool[{i}]" for i in range(len(images))]
        if len(self.names) != len(images):
            raise ConfigError("ImagePool: `names` must have one entry per image")

    def __len__(self) -> int:
        return len(self.images)

    def get(self, i: int) -> np.ndarray:
        return self.images[i]

    def name(self, i: int) -> str:
        return self.names[i]

    def draw_other(self, rng: np.random.Generator, exclude: int | None = None) -> int:
        """Index of a random image different from ``exclude`` (when the pool has another one)."""
        n = len(self)
        if n == 0:
            raise ConfigError("the image pool is empty: this generator needs other normal images")
        if exclude is None or n == 1 or not (0 <= exclude < n):
            return int(rng.integers(n))
        j = int(rng.integers(n - 1))
        return j + 1 if j >= exclude else j


@dataclass
class SynthContext:
    """Optional inputs beyond the image itself.

    Attributes:
        pool: other normal images (required by generators with ``needs_pool``).
        index: position of the current image in ``pool``, so that "another image" really is another.
        foreground: optional H×W 0/1 object mask; generators that support it keep defects inside it.
        name: name of the current image, for provenance.
    """

    pool: ImagePool | None = None
    index: int | None = None
    foreground: np.ndarray | None = None
    name: str | None = None


def register_generator(name: str):
    """Class decorator: register a :class:`Generator` subclass under ``name`` and set ``cls.name``
    (``GENERATORS.register``, the one registration path)."""
    return GENERATORS.register(name)


class Generator(A.DualTransform):
    """Base class of every pseudo-anomaly generator.

    Class attributes describe the generator for ``adsynth recipes`` and the contract tests:

    * ``family`` (e.g. ``"cutpaste"``), ``paper`` (short citation), ``description`` (one line);
    * ``label_only``: True when the output has an image-level label but no meaningful pixel mask (ognet);
    * ``mask_is_changed_pixels``: True when the mask is by definition exactly the set of changed pixels;
    * ``needs_pool``: True when the generator needs other normal images (``SynthContext.pool``).

    Args:
        p: probability of applying the transform inside an albumentations pipeline.
        sources: other normal images for pool-based generators used as albumentations transforms.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    description: ClassVar[str] = ""
    label_only: ClassVar[bool] = False
    mask_is_changed_pixels: ClassVar[bool] = True
    needs_pool: ClassVar[bool] = False

    def __init__(self, p: float = 1.0, sources: Sequence[np.ndarray] | None = None) -> None:
        super().__init__(p=p)
        self._pool = ImagePool(sources) if sources is not None else None

    # ------------------------------------------------------------------ to implement
    def generate(self, image: np.ndarray, rng: np.random.Generator, context: SynthContext) -> SynthResult:
        """Paint one defect into ``image`` (H×W×C uint8, C in {1, 3}); must not modify ``image`` in place."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """The constructor parameters (JSON-serialisable), recorded as provenance and used by recipes."""
        return {}

    # ------------------------------------------------------------------ public API
    def synthesize(
        self,
        image: np.ndarray,
        rng: np.random.Generator | int | None = None,
        *,
        mask: np.ndarray | None = None,
        context: SynthContext | None = None,
    ) -> SynthResult:
        """Apply the generator once, outside albumentations.

        Args:
            image: H×W, H×W×1 or H×W×3 uint8 image (returned in the same shape).
            rng: a ``numpy.random.Generator`` or a seed.
            mask: optional existing 0/1 mask; the result's mask is its union with the new defect.
            context: pool of other images, foreground mask, names.

        Example:
            >>> import numpy as np
            >>> from adsynth.synth import create_generator
            >>> gen = create_generator("cutpaste")
            >>> img = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
            >>> res = gen.synthesize(img, rng=0)
            >>> res.image.shape, res.mask.dtype.name
            ((64, 64, 3), 'uint8')
        """
        check_image(image)
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        context = context or SynthContext(pool=self._pool)
        if context.pool is None and self._pool is not None:
            context.pool = self._pool
        if self.needs_pool and (context.pool is None or len(context.pool) == 0):
            raise ConfigError(
                f"generator {self.name!r} needs other normal images (a pool of at least one image)"
            )
        squeeze = image.ndim == 2
        img3 = image[:, :, None] if squeeze else image
        res = self.generate(img3, rng, context)
        if res.image.shape != img3.shape or res.image.dtype != np.uint8:
            raise RuntimeError(
                f"generator {self.name!r} changed the image shape or dtype"
            )  # a bug, not input
        new_mask = res.mask.astype(np.uint8, copy=False)
        if mask is not None:
            new_mask = np.maximum(new_mask, check_mask(mask, image.shape[:2]))
        res.mask = new_mask
        if squeeze:
            res.image = res.image[:, :, 0]
        return res

    # ------------------------------------------------------------------ albumentations glue
    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        res = self.synthesize(data["image"], self.random_generator, context=SynthContext(pool=self._pool))
        return {"synth": res}

    def apply(self, img: np.ndarray, synth: SynthResult | None = None, **params: Any) -> np.ndarray:
        if synth is None:
            return img
        out = synth.image
        if out.ndim == 2 and img.ndim == 3:
            out = out[:, :, None]
        elif out.ndim == 3 and img.ndim == 2:
            out = out[:, :, 0]
        return out

    def apply_to_mask(self, mask: np.ndarray, synth: SynthResult | None = None, **params: Any) -> np.ndarray:
        if synth is None:
            return mask
        m = synth.mask.astype(mask.dtype, copy=False)
        if mask.ndim == 3:
            m = m[:, :, None]
        return np.maximum(mask, m)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return tuple(self.config())

    def get_transform_init_args(self) -> dict[str, Any]:
        return {"p": self.p, **self.config()}

"""Training and inference data for the zoo: HDF5 samples as float tensors, with online synthesis.

:class:`ZooDataset` wraps :class:`~adsynth.data.torchdata.H5Dataset` (which opens the file lazily in each
DataLoader worker). Each item is resized to the model's resolution and, when a synth recipe is given,
carries a freshly synthesised anomalous version made in the worker:

* ``image``: C×S×S float32 in [0, 1] (the clean image, the reconstruction target);
* ``label`` (int64), ``index`` (row in the data file);
* with a recipe: ``aug_image`` (C×S×S), ``aug_mask`` (1×S×S float32 0/1) and ``aug_label`` (int64).

Synthesis draws from ``np.random.default_rng([seed, epoch, row])``: the anomalies are the same whatever
the number of workers or processes, and new at every epoch (:meth:`ZooDataset.set_epoch`).

Tiled training (:meth:`ZooDataset.use_crops`, ``adsynth train --crop K``): instead of the whole image
resized to the square, each item is a random ``image_size`` window of the photo at its own resolution.
The stored image is first brought back to the photo's size recorded at import (``original_size`` in the
provenance; the inverse of the importer's ``stretch``/``pad``/``crop`` resize, and without the padding of
``pad``: see :func:`photo_box`), so that a window never contains padding. Each photo gives ``K`` windows
per epoch, at positions drawn from ``np.random.default_rng([seed, epoch, row, 2, k])``: the same for a
given seed, new at every epoch, and reproduced on resume with no state to save. The synthesis runs on the
window, so synthetic anomalies and their masks are made at the window and always agree with it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from adsynth.data.images import photo_box
from adsynth.data.torchdata import H5Dataset
from adsynth.errors import ConfigError, DataError

#: random streams of the per-item generators ``[seed, epoch, row, stream, ...]`` (synthesis uses none)
_ROTATION, _CROP, _POOL_CROP = 1, 2, 3


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """H×W×C uint8 → size×size×C uint8 (area interpolation when shrinking, bilinear when enlarging)."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    import cv2

    interp = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR
    out = cv2.resize(image, (size, size), interpolation=interp)
    return out[:, :, None] if out.ndim == 2 else out


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """H×W×C uint8 → C×H×W float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div_(255.0)


class _PoolImages:
    """The dataset's selected images, read lazily and resized: the pool of pool-based generators."""

    def __init__(self, dataset: ZooDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset.reader)

    def __getitem__(self, i: int) -> np.ndarray:
        ds = self.dataset
        if ds.crops is not None:
            return ds.window(ds.reader.read_image(i), i, ds.reader.row(i), (_POOL_CROP,))
        return resize_image(ds.reader.read_image(i), ds.image_size)


def photo_pixels(image: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> np.ndarray:
    """The photo inside a stored ``image`` (``box`` of :func:`photo_box`) at its own ``size`` (H, W)."""
    import cv2

    top, left, bh, bw = box
    img = image[top : top + bh, left : left + bw]
    if (bh, bw) == tuple(size):
        return img
    interp = cv2.INTER_AREA if size[0] <= bh and size[1] <= bw else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(img), (size[1], size[0]), interpolation=interp)
    return out[:, :, None] if out.ndim == 2 else out


def rotate_image(img: np.ndarray, degrees: float) -> np.ndarray:
    """``img`` (H×W×C uint8) rotated about its centre, bilinear, black outside; same shape."""
    import cv2

    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    out = cv2.warpAffine(
        img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out.reshape(img.shape)


def normal_fields(item: dict[str, Any], size: int) -> dict[str, Any]:
    """The real-defect fields of a normal image's item (no defect, its empty mask usable)."""
    item["real_label"] = torch.tensor(0, dtype=torch.int64)
    item["real_mask"] = torch.zeros(1, size, size)
    item["real_has_mask"] = torch.tensor(1, dtype=torch.int64)
    return item


def as_augmented(item: dict[str, Any]) -> dict[str, Any]:
    """``aug_*`` fields of an item that is not synthesised on: the image itself and its real mask."""
    item["aug_image"] = item["image"]
    mask = item["real_mask"]
    item["aug_mask"] = mask if bool(item["real_has_mask"]) else torch.zeros_like(mask)
    item["aug_label"] = item["real_label"].clone()
    return item


class ZooDataset(torch.utils.data.Dataset):
    """Samples of an adsynth dataset for a model of resolution ``image_size``.

    Args:
        path: the ``.h5`` dataset.
        image_size: side of the square model input.
        recipe: a synth recipe (an object with ``apply(image, rng, context)`` returning a
            :class:`~adsynth.synth.base.SynthResult`), or None for no synthesis.
        seed: seed of the synthesis.
        **filters: ``split``, ``label``, ``defect_type``, ``indices`` (see ``DatasetReader``).

    Example:
        >>> ds = ZooDataset("train.h5", image_size=64, split="train", label="normal")  # doctest: +SKIP
        >>> ds[0]["image"].shape  # doctest: +SKIP
        torch.Size([3, 64, 64])
    """

    def __init__(
        self, path: str | os.PathLike, image_size: int, recipe: Any = None, seed: int = 0, **filters: Any
    ) -> None:
        self.reader = H5Dataset(path, **filters)
        self.image_size = int(image_size)
        self.recipe = recipe
        #: ``(probability, max_degrees)`` rotation of the training image (set by the trainer from
        #: ``model.train_rotation()``), or None
        self.rotation: tuple[float, float] | None = None
        self.seed = int(seed)
        self.epoch = 0
        self._pool = None
        #: per selected sample ``(box, photo size)`` of :func:`photo_box` when training on crops, else None
        self.crops: list[tuple[tuple[int, int, int, int], tuple[int, int]]] | None = None
        #: windows per photo and epoch when training on crops
        self.crops_per_image = 1
        #: the training split's real defective photos (:func:`adsynth.zoo.real_defects.attach`): items
        #: ``len(self) + j``; every item then carries ``real_*`` fields
        self.real: Any = None
        #: with real defects: whether synthetic anomalies are made too (else ``aug_*`` = the item itself)
        self.real_synthetic = True

    def __len__(self) -> int:
        return len(self.reader) * (self.crops_per_image if self.crops is not None else 1)

    @property
    def import_resize(self) -> str | None:
        """How ``adsynth dataset import`` fitted the photos (``stretch``, ``pad``, ``crop``, ``none``), or
        None for a dataset that was not imported (generated, written by code)."""
        settings = self.reader.settings
        return settings.get("resize") if settings.get("importer") else None

    def use_crops(self, per_image: int = 1) -> None:
        """Train on ``per_image`` random ``image_size`` windows per photo and epoch, at the photo's own
        resolution (see the module docstring).

        Raises:
            ConfigError: ``per_image < 1``, or a photo smaller than the window.
        """
        if isinstance(per_image, bool) or not isinstance(per_image, int) or per_image < 1:
            raise ConfigError(f"expected `crop` (windows per image) to be a positive int, got {per_image!r}")
        resize = self.import_resize
        stored = self.reader.shape[:2]
        crops, small = [], []
        for i in range(len(self.reader)):
            orig = self.reader.provenance(i).get("original_size") if resize else None
            box, size = photo_box(stored, orig, resize)
            crops.append((box, size))
            if min(size) < self.image_size:
                small.append((size, self.reader.names[i]))
        if small:
            (h, w), name = min(small, key=lambda t: (min(t[0]), t[1]))
            raise ConfigError(
                f"--crop: {len(small)} of {len(crops)} training photos are smaller than the "
                f"{self.image_size}-px window (narrowest {name!r}, {h}×{w} px); "
                "use a smaller --image-size or leave them out"
            )
        self.crops, self.crops_per_image = crops, per_image

    def window(self, image: np.ndarray, i: int, row: int, stream: tuple[int, ...]) -> np.ndarray:
        """A random ``image_size`` window of sample ``i``'s photo (stored ``image``, file ``row``),
        drawn from ``default_rng([seed, epoch, row, *stream])``."""
        assert self.crops is not None
        box, size = self.crops[i]
        photo = photo_pixels(image, box, size)
        rng = np.random.default_rng([self.seed, self.epoch, int(row), *stream])
        s = self.image_size
        y, x = int(rng.integers(0, size[0] - s + 1)), int(rng.integers(0, size[1] - s + 1))
        return np.ascontiguousarray(photo[y : y + s, x : x + s])

    @property
    def channels(self) -> int:
        return self.reader.channels

    def normal_view(self) -> ZooDataset:
        """The same samples (windows, rotation, real defects) with nothing synthesised: what a model's
        pass over the normal images before training and the fitting pass read."""
        import copy

        view = copy.copy(self)
        view.recipe = None
        view._pool = None
        return view

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's anomalies (takes effect in workers started after the call)."""
        self.epoch = int(epoch)

    def _context(self, i: int, name: str):
        from adsynth.synth.base import ImagePool, SynthContext

        if self._pool is None:
            self._pool = ImagePool(_PoolImages(self), names=self.reader.names)
        return SynthContext(pool=self._pool, index=i, name=name)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self.real is not None:
            if i >= len(self):
                item = self.real.item(i - len(self))
                return as_augmented(item) if self.recipe is not None or not self.real_synthetic else item
            out = normal_fields(self._item(i), self.image_size)
            return as_augmented(out) if self.recipe is None and not self.real_synthetic else out
        return self._item(i)

    def _item(self, i: int) -> dict[str, Any]:
        k = 0
        if self.crops is not None:
            i, k = divmod(i, self.crops_per_image)
        item = self.reader[i]
        if self.crops is not None:
            img = self.window(item["image"], i, int(item["index"]), (_CROP, k))
        else:
            img = resize_image(item["image"], self.image_size)
        if self.rotation is not None:
            # Its own stream, so that the synthesis draws the same numbers with or without rotation.
            extra = [k] if k else []
            rot = np.random.default_rng([self.seed, self.epoch, int(item["index"]), _ROTATION, *extra])
            if rot.random() < self.rotation[0]:
                img = rotate_image(img, float(rot.uniform(-self.rotation[1], self.rotation[1])))
        out: dict[str, Any] = {
            "image": to_tensor(img),
            "label": torch.tensor(item["label"], dtype=torch.int64),
            "index": torch.tensor(item["index"], dtype=torch.int64),
        }
        if self.recipe is not None:
            # The k-th window of a photo (k > 0) gets its own anomalies; k = 0 draws as without crops.
            rng = np.random.default_rng([self.seed, self.epoch, int(item["index"]), *([k] if k else [])])
            res = self.recipe.apply(img, rng, self._context(i, item["name"]))
            aug = res.image if res.image.ndim == 3 else res.image[:, :, None]
            out["aug_image"] = to_tensor(aug)
            out["aug_mask"] = torch.from_numpy((res.mask > 0).astype(np.float32))[None]
            out["aug_label"] = torch.tensor(int(res.label), dtype=torch.int64)
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pool"] = None
        return state


class EpochSampler(Sampler[int]):
    """A shuffling sampler whose order is a pure function of ``(seed, epoch)``.

    The permutation comes from a ``torch.Generator`` seeded from the pair, so a resumed run visits the
    same samples in the same order as an uninterrupted one, with no sampler state to save.
    """

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n = int(n)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        return iter(torch.randperm(self.n, generator=epoch_generator(self.seed, self.epoch)).tolist())


def image_chunks(
    dataset: Any, device: torch.device, chunk: int = 32
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Yield ``(row indices, B×C×H×W images on device)`` of ``dataset``'s items in row order and fixed
    chunks, so that what is computed from them does not depend on any batch's composition."""
    for start in range(0, len(dataset), chunk):
        items = [dataset[i] for i in range(start, min(start + chunk, len(dataset)))]
        yield [int(it["index"]) for it in items], torch.stack([it["image"] for it in items]).to(device)


def derive_seed(*parts: int) -> int:
    """A 63-bit seed derived from integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0]) >> 1


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded from ``(seed, epoch, stream)``."""
    return torch.Generator().manual_seed(derive_seed(seed, epoch, stream))


class WorkerInit:
    """``worker_init_fn`` seeding torch, numpy and ``random`` in each worker from (seed, epoch, rank, worker).

    The synthesis itself does not depend on these seeds (it uses per-sample generators); they only pin
    down any library randomness a transform might use.
    """

    def __init__(self, seed: int, rank: int = 0) -> None:
        self.seed = int(seed)
        self.rank = int(rank)

    def __call__(self, worker_id: int) -> None:
        import random

        info = torch.utils.data.get_worker_info()
        epoch = getattr(info.dataset, "epoch", 0) if info is not None else 0
        s = derive_seed(self.seed, epoch, self.rank, worker_id)
        torch.manual_seed(s)
        random.seed(s)
        np.random.seed(s % (1 << 32))


def check_not_empty(dataset: ZooDataset, what: str) -> None:
    if len(dataset) == 0:
        raise DataError(f"{dataset.reader.path}: no {what} samples")

"""Training and inference data for the zoo: HDF5 samples as float tensors, with online synthesis.

:class:`ZooDataset` wraps :class:`~adsynth.data.torchdata.H5Dataset` (which opens the file lazily in each
DataLoader worker). Each item is resized to the model's resolution and, when a synth recipe is given,
carries a freshly synthesised anomalous version made in the worker:

* ``image``: C×S×S float32 in [0, 1] (the clean image, the reconstruction target);
* ``label`` (int64), ``index`` (row in the data file);
* with a recipe: ``aug_image`` (C×S×S), ``aug_mask`` (1×S×S float32 0/1) and ``aug_label`` (int64).

Synthesis draws from ``np.random.default_rng([seed, epoch, row])``: the anomalies are the same whatever
the number of workers or processes, and new at every epoch (:meth:`ZooDataset.set_epoch`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from adsynth.data.torchdata import H5Dataset
from adsynth.errors import DataError


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
        return resize_image(self.dataset.reader.read_image(i), self.dataset.image_size)


def rotate_image(img: np.ndarray, degrees: float) -> np.ndarray:
    """``img`` (H×W×C uint8) rotated about its centre, bilinear, black outside; same shape."""
    import cv2

    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    out = cv2.warpAffine(
        img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out.reshape(img.shape)


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

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def channels(self) -> int:
        return self.reader.channels

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's anomalies (takes effect in workers started after the call)."""
        self.epoch = int(epoch)

    def _context(self, i: int, name: str):
        from adsynth.synth.base import ImagePool, SynthContext

        if self._pool is None:
            self._pool = ImagePool(_PoolImages(self), names=self.reader.names)
        return SynthContext(pool=self._pool, index=i, name=name)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.reader[i]
        img = resize_image(item["image"], self.image_size)
        if self.rotation is not None:
            # Its own stream, so that the synthesis draws the same numbers with or without rotation.
            rot = np.random.default_rng([self.seed, self.epoch, int(item["index"]), 1])
            if rot.random() < self.rotation[0]:
                img = rotate_image(img, float(rot.uniform(-self.rotation[1], self.rotation[1])))
        out: dict[str, Any] = {
            "image": to_tensor(img),
            "label": torch.tensor(item["label"], dtype=torch.int64),
            "index": torch.tensor(item["index"], dtype=torch.int64),
        }
        if self.recipe is not None:
            rng = np.random.default_rng([self.seed, self.epoch, int(item["index"])])
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

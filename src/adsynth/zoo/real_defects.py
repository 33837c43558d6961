"""Real defective photos in training: supervised and mixed training (``adsynth train --real-defects``).

A dataset made with ``adsynth dataset import --train-defects K`` (or ``dataset split-defects``) holds, in
its ``train`` split, a few defective photos with their masks beside the normal images. With
``--real-defects all`` (masks) or ``labels-only`` (image labels only) the trainer extends the training
:class:`~adsynth.zoo.data.ZooDataset` with them (:func:`attach`):

* the dataset's length stays the number of normal images (what a model's ``on_train_start`` and the
  fitting pass iterate); the ``j``-th defective photo is item ``len(dataset) + j``;
* every item then carries ``real_label`` (int64: 1 for a real defective photo), ``real_mask``
  (1×S×S float32 0/1; zeros for a normal image, and for a defective photo in ``labels-only``) and
  ``real_has_mask`` (int64: 0 where the mask must not be used: a ``labels-only`` defect);
* with a recipe, a defective photo is not synthesised on: its ``aug_image`` is the photo and its
  ``aug_mask`` the real mask (``aug_label`` 1), so a segmentation head sees it as one more positive;
  without synthetic anomalies (``--no-synthetic``) every item gets ``aug_*`` that way (a normal image:
  itself, an empty mask) for the models that read them;
* :class:`RealDefectSampler` orders each epoch: every normal image once and the defective photos in
  turn (each as often as the others, ± 1) for ``fraction`` of the epoch's samples, shuffled together,
  a pure function of ``(seed, epoch)`` like :class:`~adsynth.zoo.data.EpochSampler`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from adsynth.errors import DataError
from adsynth.zoo.data import as_augmented, epoch_generator, normal_fields, resize_image, to_tensor

__all__ = ["RealDefectSampler", "RealDefects", "as_augmented", "attach", "normal_fields"]


class RealDefects:
    """The training split's defective photos of a dataset, as training items at ``image_size``.

    Args:
        path: the ``.h5`` dataset.
        split: the training split (``train``).
        image_size: the model's resolution.
        masks: use the masks (``all``); False: image labels only (``labels-only``).
    """

    def __init__(self, path: Any, split: str, image_size: int, masks: bool = True) -> None:
        from adsynth.data.torchdata import H5Dataset

        self.reader = H5Dataset(path, split=split, label="anomalous")
        self.image_size = int(image_size)
        self.masks = bool(masks)

    def __len__(self) -> int:
        return len(self.reader)

    def item(self, j: int) -> dict[str, Any]:
        it = self.reader[j]
        img = resize_image(it["image"], self.image_size)
        s = self.image_size
        if self.masks:
            m = it["mask"]
            if m.shape != (s, s):
                import cv2

                # Area-resized then thresholded at 0.5: a defect keeps its extent, not its aliasing.
                m = cv2.resize((m > 0).astype(np.float32), (s, s), interpolation=cv2.INTER_AREA) >= 0.5
            mask = torch.from_numpy((np.asarray(m) > 0).astype(np.float32))[None]
        else:
            mask = torch.zeros(1, s, s)
        return {
            "image": to_tensor(img),
            "label": torch.tensor(1, dtype=torch.int64),
            "index": torch.tensor(it["index"], dtype=torch.int64),
            "real_label": torch.tensor(1, dtype=torch.int64),
            "real_mask": mask,
            "real_has_mask": torch.tensor(int(self.masks), dtype=torch.int64),
        }


def attach(dataset: Any, split: str, mode: str, synthetic: bool) -> RealDefects:
    """Extend a training :class:`~adsynth.zoo.data.ZooDataset` with ``split``'s real defective photos.

    Raises:
        DataError: the split holds no defective photo (with masks, for ``mode="all"``).
    """
    real = RealDefects(dataset.reader.path, split, dataset.image_size, masks=mode == "all")
    if len(real) == 0:
        raise DataError(
            f"{dataset.reader.path}: --real-defects {mode}: the training split holds no defective photo "
            "(make one with `adsynth dataset import --train-defects K` or `adsynth dataset split-defects`)"
        )
    if mode == "all":
        empty = [n for j, n in enumerate(real.reader.names) if not real.reader.read_mask(j).any()]
        if empty:
            raise DataError(
                f"{dataset.reader.path}: --real-defects all: {len(empty)} defective training photo(s) have "
                f"an empty mask (first {empty[0]!r}); use --real-defects labels-only"
            )
    dataset.real = real
    dataset.real_synthetic = bool(synthetic)
    return real


class RealDefectSampler(Sampler[int]):
    """Every normal image once per epoch plus the real defective photos for ``fraction`` of the epoch.

    Indices ``0 .. n_normal-1`` are normal images, ``n_normal + j`` the ``j``-th defective photo. The
    defective photos take ``ceil(fraction / (1 - fraction) · n_normal)`` places (at least one round of
    all of them), in shuffled rounds; the whole order is then shuffled. A pure function of
    ``(seed, epoch)``: a resumed run sees the same order.
    """

    def __init__(self, n_normal: int, n_real: int, fraction: float, seed: int = 0) -> None:
        self.n_normal, self.n_real = int(n_normal), int(n_real)
        self.n_slots = max(self.n_real, math.ceil(fraction / (1.0 - fraction) * self.n_normal))
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_normal + self.n_slots

    def __iter__(self) -> Iterator[int]:
        g = epoch_generator(self.seed, self.epoch, stream=7)
        rounds = -(-self.n_slots // self.n_real)
        real = torch.cat([torch.randperm(self.n_real, generator=g) for _ in range(rounds)])[: self.n_slots]
        order = torch.cat([torch.arange(self.n_normal), self.n_normal + real])
        return iter(order[torch.randperm(len(order), generator=g)].tolist())

"""Score maps (an HDF5 maps file or a folder of maps) against an adsynth test dataset.

A dataset imported with ``--resize pad`` records the photos' own sizes: the letterbox padding around
each photo is then left out of the pixel metrics (:func:`photo_boxes`).

Example:
    >>> from adsynth.evaluate.runner import evaluate_files
    >>> report = evaluate_files("test.h5", "maps.h5")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from adsynth.data.images import photo_box
from adsynth.data.maps import check_maps_data
from adsynth.data.reader import DatasetReader
from adsynth.errors import DataError
from adsynth.evaluate.io import open_maps
from adsynth.evaluate.report import MapSample, Report, evaluate


def photo_boxes(ds: DatasetReader) -> list[tuple[int, int, int, int] | None]:
    """Per selected sample, the box of its stored image that holds the photo, or None when the photo
    fills it: only a ``--resize pad`` import (its settings and each row's ``original_size``) has
    padding."""
    settings = ds.settings
    if not settings.get("importer") or settings.get("resize") != "pad":
        return [None] * len(ds)
    stored = ds.shape[:2]
    boxes: list[tuple[int, int, int, int] | None] = []
    for i in range(len(ds)):
        box, _ = photo_box(stored, ds.provenance(i).get("original_size"), "pad")
        boxes.append(None if box[2:] == stored else box)
    return boxes


def _samples(ds: DatasetReader, maps) -> Iterator[MapSample]:
    names = ds.names
    labels = ds.labels
    types = ds.defect_types
    boxes = photo_boxes(ds)
    for i, name in enumerate(names):
        amap, score = maps[name]
        yield MapSample(name, amap, ds.read_mask(i), int(labels[i]), types[i], score, boxes[i])


def evaluate_files(
    data: str | os.PathLike,
    maps: str | os.PathLike,
    *,
    split: str | None = "test",
    limit: float = 0.3,
    sort_by: str | None = None,
    n_overlays: int = 2,
    allow_other_data: bool = False,
) -> tuple[Report, DatasetReader]:
    """Evaluate the maps of every sample of ``split`` in ``data`` (per defect type).

    A maps file predicted on another data file (its recorded ``data_fingerprint``) is refused unless
    ``allow_other_data``. The letterbox padding of a ``--resize pad`` import is left out of the pixel
    metrics (the report's notes say how much). Returns the report and the reader (for overlay
    backgrounds).
    """
    ds = DatasetReader(data, split=split)
    if len(ds) == 0:
        raise DataError(f"{data}: no samples in split {split!r} (choose another with --split)")
    if not allow_other_data:
        check_maps_data(maps, data)
    with open_maps(maps, names=ds.names) as ms:
        report = evaluate(_samples(ds, ms), limit=limit, sort_by=sort_by, n_overlays=n_overlays)
    return report, ds


def image_getter(ds: DatasetReader):
    """``name -> image`` for the report overlays."""
    index = {n: i for i, n in enumerate(ds.names)}
    return lambda name: ds.read_image(index[name])

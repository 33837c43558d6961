"""A trained model on new photos: a folder, a glob or a dataset in, per-image results out.

``infer_photos`` streams the images in batches (memory bounded by the batch, whatever the number of
photos), runs the model at its resolution, brings each map back to the photo's own size, and writes
to the results folder:

- ``results.csv``: one row per image (``name, height, width, score, decision, regions``), appended
  batch by batch and flushed, so an interrupted run keeps what it finished and ``resume`` skips it;
- ``regions.jsonl``: per image, the connected regions of the map above the pixel threshold (area,
  bounding box ``x, y, w, h`` in the photo's pixels, peak value);
- ``overlays/<name>.png``: the photo with the heat map (one colour scale for the run);
- ``maps/<name>.npy`` (with ``save_maps``): the float32 map at the photo's size (the folder layout
  ``adsynth eval --maps`` reads).

The decision uses the image threshold stored in the checkpoint by ``adsynth calibrate`` (or passed
explicitly); without one the ``decision`` column is empty and no regions are listed.

A model trained on crops (``adsynth train --crop``, recorded in the checkpoint's ``train_config``) is
predicted with ``fit="tile"`` unless told otherwise; another ``fit`` gives a warning, since it shows the
model its input at another scale than it was trained on.
"""

from __future__ import annotations

import csv
import glob as globmod
import json
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adsynth.errors import ConfigError, DataError, OutputExistsError
from adsynth.zoo.checkpoint import model_from_checkpoint, read_checkpoint
from adsynth.zoo.deploy.tiling import predict_photos
from adsynth.zoo.device import resolve_device

RESULTS_FILE = "results.csv"
REGIONS_FILE = "regions.jsonl"
FIELDS = ("name", "height", "width", "score", "decision", "regions")


@dataclass
class InferResult:
    """What :func:`infer_photos` wrote."""

    out: Path
    n: int
    skipped: int
    flagged: int
    seconds: float
    images_per_s: float
    fit: str = "squash"
    warning: str | None = None
    #: the image threshold of the decisions; None: none set, the decision column is empty
    image_threshold: float | None = None
    #: ``(name, why)`` of the photos that could not be read, left out (``skip_bad``)
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def trained_on_crops(ckpt: dict[str, Any]) -> int:
    """Windows per image of the checkpoint's tiled training (``train --crop``), 0 when trained whole."""
    return int((ckpt.get("train_config") or {}).get("crop") or 0)


def fit_for(ckpt: dict[str, Any], fit: str | None) -> tuple[str, str | None]:
    """The ``fit`` to use for a checkpoint and a warning when the given one differs from how the model
    was trained: ``tile`` by default for a crop-trained model (``train --crop``), ``pad`` for one trained
    on a letterboxed import (``dataset import --resize pad``: the same letterbox), else ``squash``."""
    crops = trained_on_crops(ckpt)
    letterboxed = ckpt.get("data_resize") == "pad"
    if fit is None:
        return ("tile" if crops else "pad" if letterboxed else "squash"), None
    if crops and fit != "tile":
        size = (ckpt.get("train_config") or {}).get("image_size")
        return fit, (
            f"the model was trained on {size}-px windows at the photos' own resolution (train --crop); "
            f"--fit {fit} shows it another scale (--fit tile matches its training)"
        )
    if letterboxed and not crops and fit != "pad":
        return fit, (
            "the model was trained on letterboxed photos (dataset import --resize pad); "
            f"--fit {fit} shows it another layout (--fit pad matches its training)"
        )
    return fit, None


def list_inputs(spec: str | os.PathLike) -> list[tuple[str, Any]]:
    """``(name, source)`` pairs of a folder (recursive), a glob pattern, or a dataset ``.h5``.

    A source is a file path, or ``(reader, index)`` for a dataset. Names are relative paths (folder),
    file names (glob) or the dataset's sample names.
    """
    from adsynth.data.images import is_image_file, list_images

    s = str(spec)
    p = Path(s)
    if p.is_dir():
        return [(f.relative_to(p).as_posix(), f) for f in list_images(p)]
    if p.suffix.lower() in (".h5", ".hdf5") and p.is_file():
        from adsynth.data.reader import DatasetReader

        reader = DatasetReader(p)
        return [(name, (reader, i)) for i, name in enumerate(reader.names)]
    if any(ch in s for ch in "*?["):
        files = sorted(Path(f) for f in globmod.glob(s, recursive=True))
        files = [f for f in files if f.is_file() and is_image_file(f)]
        if not files:
            raise DataError(f"{s}: the pattern matches no image files")
        return [(f.name, f) for f in files]
    if p.is_file():
        return [(p.name, p)]
    raise DataError(f"{s}: not a folder, image, glob pattern or dataset (.h5)")


def _read(source: Any) -> np.ndarray:
    from adsynth.data.images import read_image

    if isinstance(source, tuple):
        reader, i = source
        return reader.read_image(i)
    return read_image(source)


def _done_names(out: Path) -> set[str]:
    path = out / RESULTS_FILE
    if not path.is_file():
        return set()
    with open(path, newline="") as f:
        return {row["name"] for row in csv.DictReader(f)}


def regions_of(amap: np.ndarray, threshold: float, min_area: int = 1) -> list[dict[str, Any]]:
    """Connected regions (8-connected) of ``amap >= threshold``: area, bounding box and peak."""
    import cv2

    binary = (amap >= threshold).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    out = []
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        if area < min_area:
            continue
        peak = float(amap[labels == k].max())
        out.append({"area": area, "x": x, "y": y, "w": w, "h": h, "peak": round(peak, 6)})
    return sorted(out, key=lambda r: -r["area"])


def _batches(
    items: list[tuple[str, Any]], size: int, unreadable: list[tuple[str, str]] | None
) -> Iterator[list[tuple[str, np.ndarray]]]:
    """The photos read, ``size`` at a time. An unreadable one raises, or with an ``unreadable`` list is
    recorded there as ``(name, why)`` and left out."""
    for start in range(0, len(items), size):
        batch = []
        for name, src in items[start : start + size]:
            try:
                batch.append((name, _read(src)))
            except DataError as e:
                if unreadable is None:
                    raise DataError(f"{e}; pass --skip-bad to score the other photos") from None
                unreadable.append((name, str(e)))
        if batch:
            yield batch


def infer_photos(
    checkpoint: str | os.PathLike,
    inputs: str | os.PathLike,
    out: str | os.PathLike,
    *,
    batch_size: int = 8,
    device: str = "auto",
    image_threshold: float | None = None,
    pixel_threshold: float | None = None,
    min_area: int = 1,
    fit: str | None = None,
    overlap: int | None = None,
    overlays: bool = True,
    save_maps: bool = False,
    resume: bool = False,
    overwrite: bool = False,
    skip_bad: bool = False,
    progress: Any = None,
) -> InferResult:
    """Score new photos with a trained model and write the results folder (see the module docstring).

    Args:
        checkpoint: a ``model.pt`` or an export of one (``.onnx``, OpenVINO ``.xml``); its
            ``thresholds`` (from ``adsynth calibrate``) are the defaults
            of ``image_threshold`` and ``pixel_threshold``.
        inputs: a folder (recursive), a glob pattern, one image, or a dataset ``.h5``.
        out: the results folder.
        batch_size: photos per forward pass.
        image_threshold, pixel_threshold: override the checkpoint's thresholds.
        min_area: smallest region (pixels of the photo) listed.
        fit, overlap: how a photo meets the model's square input: ``squash``, ``pad`` (keep the
            aspect) or ``tile`` (windows at full resolution, ``overlap`` pixels apart); see
            :mod:`adsynth.zoo.deploy.tiling`. ``fit`` None: ``tile`` for a model trained on crops, else
            ``squash``; ``overlap`` None: 32, or a quarter of the window for models under 128 px.
        overlays, save_maps: write the overlay PNGs / the raw maps.
        resume: keep the rows of ``out`` and score only the photos not in them.
        overwrite: replace an existing results folder.
        skip_bad: leave out photos that cannot be read (corrupt, unsupported) and list them in the
            result's ``unreadable``, instead of stopping at the first; none readable is still an error.
        progress: a callable ``progress(n_done)``.
    """
    from adsynth.evaluate.plots import encode_png, overlay
    from adsynth.fsutil import atomic_write_bytes, remove_on_failure

    t0 = time.perf_counter()
    out = Path(out)
    if int(batch_size) < 1:
        raise ConfigError(f"expected `batch_size` to be a positive int, got {batch_size}")
    if resume and overwrite:
        raise ConfigError("resume and overwrite exclude each other")
    results = out / RESULTS_FILE
    if results.exists() and not (resume or overwrite):
        raise OutputExistsError(f"{results} exists (pass --overwrite to replace it, --resume to continue)")
    from adsynth.zoo.deploy.export import is_exported, load_exported

    note = None
    if is_exported(checkpoint):  # an ONNX / OpenVINO export (CPU runtime): thresholds from its metadata
        model: Any = load_exported(checkpoint)
        stored, dev = model.thresholds, torch.device("cpu")
        train = {"crop": model.train_crop, "image_size": model.image_size}
        fit, note = fit_for({"train_config": train, "data_resize": model.train_resize}, fit)
    else:
        ckpt = read_checkpoint(checkpoint)
        stored, dev = ckpt.get("thresholds") or {}, resolve_device(device)
        fit, note = fit_for(ckpt, fit)
        model = model_from_checkpoint(ckpt, str(checkpoint)).to(dev).eval()
    if note is not None:
        warnings.warn(note, stacklevel=2)
    t_img = image_threshold if image_threshold is not None else stored.get("image")
    t_pix = pixel_threshold if pixel_threshold is not None else stored.get("pixel")
    items = list_inputs(inputs)
    if not items:
        raise DataError(f"{inputs}: no images")
    with remove_on_failure(out, keep_if=(RESULTS_FILE,)):
        if overwrite and out.is_dir():
            for name in (RESULTS_FILE, REGIONS_FILE):
                (out / name).unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        done = _done_names(out) if resume else set()
        todo = [it for it in items if it[0] not in done]
        new_file = not results.exists()
        n = flagged = 0
        scale = None
        unreadable: list[tuple[str, str]] | None = [] if skip_bad else None
        with open(results, "a", newline="") as fcsv, open(out / REGIONS_FILE, "a") as fjs:
            writer = csv.DictWriter(fcsv, fieldnames=FIELDS)
            if new_file:
                writer.writeheader()
            for batch in _batches(todo, int(batch_size), unreadable):
                imgs = [img for _, img in batch]
                results_ = predict_photos(model, imgs, fit, overlap, int(batch_size), dev)
                if scale is None and overlays:  # one colour scale for the run, from the first batch
                    lo = min(float(m.min()) for m, _ in results_)
                    hi = max(float(m.max()) for m, _ in results_)
                    scale = (lo, max(hi, float(t_pix)) if t_pix is not None else hi)
                for (name, img), (amap, score) in zip(batch, results_, strict=True):
                    h, w = img.shape[:2]
                    decision = "" if t_img is None else ("anomalous" if score >= t_img else "normal")
                    flagged += decision == "anomalous"
                    regs = regions_of(amap, t_pix, min_area) if t_pix is not None else []
                    writer.writerow(
                        {"name": name, "height": h, "width": w, "score": f"{float(score):.6g}",
                         "decision": decision, "regions": len(regs)}
                    )  # fmt: skip
                    fjs.write(json.dumps({"name": name, "score": float(score), "regions": regs}) + "\n")
                    if overlays:
                        pic = overlay(img, amap, np.zeros((h, w), np.uint8), *scale, name, float(score))
                        atomic_write_bytes(_inside(out, "overlays", name, ".png"), encode_png(pic))
                    if save_maps:
                        _save_npy(_inside(out, "maps", name, ".npy"), amap.astype(np.float32))
                    n += 1
                fcsv.flush()
                fjs.flush()
                if progress is not None:
                    progress(len(done) + n)
        if unreadable and len(unreadable) == len(todo):
            raise DataError(f"{inputs}: none of the {len(todo)} photos could be read ({unreadable[0][1]})")
    dt = time.perf_counter() - t0
    return InferResult(
        out, n, len(items) - len(todo), flagged, dt, n / max(dt, 1e-9), fit, note, t_img, unreadable or []
    )


def _inside(out: Path, folder: str, name: str, suffix: str) -> Path:
    """``out/folder/name+suffix``, refusing names that would leave ``out/folder`` (``..``, absolute)."""
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise DataError(f"image name {name!r} would be written outside {out / folder}")
    path = out / folder / f"{name}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save_npy(path: Path, arr: np.ndarray) -> None:
    import io

    from adsynth.fsutil import atomic_write_bytes

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())

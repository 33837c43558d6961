"""Importers: a folder of photos, or the MVTec AD category layout, into an adsynth dataset.

Example:
    >>> from adsynth.data.importers import import_dataset
    >>> summary = import_dataset("photos/", "parts.h5", size=256)  # doctest: +SKIP
    >>> summary.n_written  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adsynth.data import format as F
from adsynth.data.fewshot import (
    PROVENANCE_KEY,
    RECORD_KEY,
    check_selection,
    select_train_defects,
    selection_record,
)
from adsynth.data.images import (
    COLOR_MODES,
    RESIZE_MODES,
    fit,
    is_gray,
    is_image_file,
    list_images,
    parse_size,
    read_image,
    read_mask,
    to_mode,
)
from adsynth.data.writer import DatasetWriter, check_output
from adsynth.errors import ConfigError, DataError

LAYOUTS = ("auto", "folder", "mvtec")


@dataclass
class ImportItem:
    """One file to import and what it is."""

    path: Path
    name: str
    split: str = "train"
    defect_type: str = F.GOOD
    label: int = 0
    mask_path: Path | None = None


@dataclass
class ImportSummary:
    path: Path
    n_written: int
    counts: Counter
    skipped: list[tuple[str, str]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    #: (name, why) of images imported with a loss the user may not expect (colour dropped, stretched)
    warnings: list[tuple[str, str]] = field(default_factory=list)


#: a stretch that changes the aspect ratio by more than this factor is reported
MAX_STRETCH = 20.0


def detect_layout(root: str | os.PathLike) -> str:
    """``mvtec`` when ``root`` has ``train/good`` or ``test/<type>`` folders, else ``folder``."""
    r = Path(root)
    if (r / "train" / "good").is_dir() or ((r / "test").is_dir() and (r / "ground_truth").is_dir()):
        return "mvtec"
    return "folder"


def scan_folder(root: str | os.PathLike, split: str = "train") -> list[ImportItem]:
    """Every image under ``root`` (recursive) as a normal sample of ``split``."""
    r = Path(root)
    return [ImportItem(p, p.relative_to(r).as_posix(), split=split) for p in list_images(r)]


def _find_mask(gt_dir: Path, stem: str) -> Path | None:
    for cand in (f"{stem}_mask.png", f"{stem}.png", f"{stem}_mask.bmp", f"{stem}_mask.tif"):
        if (gt_dir / cand).is_file():
            return gt_dir / cand
    return None


def scan_mvtec(root: str | os.PathLike) -> tuple[list[ImportItem], list[tuple[str, str]]]:
    """The MVTec AD category layout: ``train/good``, ``test/<type>``, ``ground_truth/<type>/<name>_mask.png``.

    Returns the items and the defect images whose mask is missing (name, reason).
    """
    r = Path(root)
    items: list[ImportItem] = []
    missing: list[tuple[str, str]] = []
    for split_dir, split in (("train", "train"), ("validation", "val"), ("val", "val"), ("test", "test")):
        base = r / split_dir
        if not base.is_dir():
            continue
        for type_dir in sorted(d for d in base.iterdir() if d.is_dir()):
            t = type_dir.name
            for p in sorted(q for q in type_dir.rglob("*") if q.is_file() and is_image_file(q)):
                name = p.relative_to(r).as_posix()
                if t == F.GOOD:
                    items.append(ImportItem(p, name, split, F.GOOD, 0))
                    continue
                mp = _find_mask(r / "ground_truth" / t, p.stem)
                if mp is None:
                    missing.append((name, f"no mask in ground_truth/{t}/ for {p.name}"))
                    continue
                items.append(ImportItem(p, name, split, t, 1, mp))
    if not items and not missing:
        raise DataError(f"{r}: no images found in train/ or test/ (MVTec AD layout)")
    return items, missing


def _select_train_defects(
    items: list[ImportItem], root: Path, k: int, fold: int, pool: int | None, seed: int
) -> tuple[list[ImportItem], set[str], dict[str, Any]]:
    """Move ``k`` defective test photos per type to training, drop the rest of the fold's pool.

    Returns the items kept, the names moved and the ``train_defects`` settings record.
    """
    k, fold, pool, seed = check_selection(k, fold, pool, seed)
    by_type: dict[str, list[str]] = {}
    for it in items:
        if it.split == "test" and it.label > 0:
            by_type.setdefault(it.defect_type, []).append(it.name)
    if k > 0 and not by_type:
        raise ConfigError(f"{root}: no defective test photos (test/<type>/) to move to the training split")
    train, left_out = select_train_defects(by_type, k, fold, pool, seed)
    moved = {n for v in train.values() for n in v}
    dropped = {n for v in left_out.values() for n in v}
    for it in items:
        if it.name in moved:
            it.split = "train"
    kept = [it for it in items if it.name not in dropped]
    return kept, moved, selection_record(train, left_out, k, fold, pool, seed, str(root.resolve()))


def _stretch_warning(orig: tuple[int, int], target: tuple[int, int]) -> str | None:
    """A warning when stretching ``orig`` (H, W) to ``target`` distorts the aspect ratio beyond
    :data:`MAX_STRETCH`."""
    distortion = (orig[1] / orig[0]) / (target[1] / target[0])
    distortion = max(distortion, 1 / distortion)
    if distortion <= MAX_STRETCH:
        return None
    return (
        f"stretched from {orig[0]}×{orig[1]} to {target[0]}×{target[1]} (aspect ratio changed "
        f"{distortion:.0f}-fold; --resize pad or crop keeps it)"
    )


def _decode(item: ImportItem) -> tuple[np.ndarray, np.ndarray | None]:
    img = read_image(item.path)
    mask = None
    if item.mask_path is not None:
        mask = read_mask(item.mask_path)
        if mask.shape != img.shape[:2]:
            raise DataError(
                f"{item.mask_path}: mask size {mask.shape} differs from its image {img.shape[:2]}"
            )
    return img, mask


def _decode_all(items: list[ImportItem], workers: int) -> Iterator[tuple[ImportItem, Any]]:
    """Decode in threads (OpenCV releases the GIL), yielding in order; errors are yielded, not raised."""

    def job(it: ImportItem) -> Any:
        try:
            return _decode(it)
        except DataError as e:
            return e

    if workers <= 1:
        for it in items:
            yield it, job(it)
        return
    with ThreadPoolExecutor(max_workers=workers) as ex:
        step = 64
        for s in range(0, len(items), step):
            chunk = items[s : s + step]
            yield from zip(chunk, ex.map(job, chunk), strict=True)


def import_dataset(
    input: str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: int | str | tuple[int, int] | None = None,
    resize: str = "stretch",
    color: str = "auto",
    layout: str = "auto",
    split: str = "train",
    val_fraction: float = 0.0,
    seed: int = 0,
    skip_bad: bool = False,
    overwrite: bool = False,
    workers: int = 2,
    progress: Callable[[int], Any] | None = None,
    train_defects: int | None = None,
    defect_fold: int = 0,
    defect_pool: int | None = None,
) -> ImportSummary:
    """Import a folder of images or an MVTec AD category into ``out``.

    Args:
        input: a folder of images (recursive) or an MVTec AD category folder.
        out: the ``.h5`` file to write (atomically; refused if it exists unless ``overwrite``).
        size: target size N or (H, W); None requires all images to share one size.
        resize: ``stretch``, ``pad`` or ``crop`` (see :func:`adsynth.data.images.fit`).
        color: ``auto`` (gray unless some of the first images have colour), ``gray`` or ``rgb``.
        layout: ``auto``, ``folder`` or ``mvtec``.
        split: split of the images of a plain folder.
        val_fraction: fraction of the normal training images moved to ``val`` (seeded).
        seed: seed of the validation selection and of the defective training photos' selection.
        skip_bad: skip unreadable images (listed in the summary) instead of failing.
        overwrite: replace an existing ``out``.
        workers: decoding threads.
        progress: called with the number of images processed so far.
        train_defects: MVTec layout only: move this many defective test photos of each defect type to
            the training split (:func:`adsynth.data.fewshot.select_train_defects`; the rest of the
            fold's pool is left out of the file). None: none moved.
        defect_fold: the fold of that selection.
        defect_pool: photos per type and fold taken out of the test set (default ``train_defects``).

    Problems that do not stop the import (a colour photo made gray, a photo stretched far out of its
    aspect ratio) are listed in the summary's ``warnings``.
    """
    root = Path(input)
    if not root.exists():
        raise DataError(f"{root}: no such file or folder")
    if not root.is_dir():
        raise DataError(f"{root}: expected a folder of images or an MVTec AD category folder")
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown layout {layout!r} (valid: {', '.join(LAYOUTS)})")
    if resize not in RESIZE_MODES:
        raise ConfigError(f"unknown resize mode {resize!r} (valid: {', '.join(RESIZE_MODES)})")
    if color not in COLOR_MODES:
        raise ConfigError(f"unknown colour mode {color!r} (valid: {', '.join(COLOR_MODES)})")
    if split not in F.SPLITS:
        raise ConfigError(f"unknown split {split!r} (valid: {', '.join(F.SPLITS)})")
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"expected `val_fraction` in [0, 1), got {val_fraction}")
    check_output(out, overwrite)
    target = parse_size(size)
    layout = detect_layout(root) if layout == "auto" else layout
    skipped: list[tuple[str, str]] = []
    if layout == "mvtec":
        items, missing = scan_mvtec(root)
        if missing and not skip_bad:
            raise DataError(f"{root / missing[0][0]}: {missing[0][1]} (pass --skip-bad to skip such images)")
        skipped += missing
    else:
        if train_defects is not None:
            raise ConfigError(
                f"{root}: `train_defects` needs the MVTec AD layout (test/<type>/ and ground_truth/<type>/ "
                "folders), not a plain folder of images"
            )
        items = scan_folder(root, split)
    moved: set[str] = set()
    defects_record = None
    if train_defects is not None:
        items, moved, defects_record = _select_train_defects(
            items, root, train_defects, defect_fold, defect_pool, seed
        )
    if not items:
        raise DataError(
            f"{root}: no images found ({', '.join(e.lstrip('.') for e in ('.png', '.jpg', '.bmp', '.tif'))})"
        )
    if val_fraction > 0:
        normal_train = [i for i, it in enumerate(items) if it.split == "train" and it.label == 0]
        rng = np.random.default_rng(seed)
        k = int(round(val_fraction * len(normal_train)))
        for i in rng.choice(normal_train, size=k, replace=False) if k else []:
            items[int(i)].split = "val"

    decoded = _decode_all(items, workers)
    # Colour mode and (without --size) the image size come from the first readable images.
    head: list[tuple[ImportItem, Any]] = []
    for it, res in decoded:
        head.append((it, res))
        if sum(1 for _, r in head if not isinstance(r, DataError)) >= 8:
            break
    good_head = [r for _, r in head if not isinstance(r, DataError)]
    if not good_head:
        first_err = next((r for _, r in head if isinstance(r, DataError)), None)
        if first_err is not None and not skip_bad:
            raise first_err
        if not good_head and len(head) == len(items):
            raise DataError(f"{root}: none of the images could be read")
    if color == "auto":
        channels = 1 if all(is_gray(img) for img, _ in good_head) else 3
    else:
        channels = 1 if color == "gray" else 3
    hw = target or (good_head[0][0].shape[:2] if good_head else None)
    if hw is None:
        raise DataError(f"{root}: none of the first images could be read")
    settings = {
        "importer": layout,
        "input": str(root.resolve()),
        "size": list(hw),
        "resize": resize if target else "none",
        "color_mode": "gray" if channels == 1 else "rgb",
        "color_requested": color,
        "bit_depth": "16-bit scaled to 8-bit as v/257; alpha dropped",
        "mask_resize": "nearest",
        "val_fraction": val_fraction,
        "val_seed": seed,
    }
    if defects_record is not None:
        settings[RECORD_KEY] = defects_record
    warnings: list[tuple[str, str]] = []

    def chained() -> Iterator[tuple[ImportItem, Any]]:
        yield from head
        yield from decoded

    writer = DatasetWriter(
        out, height=hw[0], width=hw[1], channels=channels, seed=seed, settings=settings, overwrite=overwrite
    )
    try:
        done = 0
        for it, res in chained():
            done += 1
            if isinstance(res, DataError):
                if not skip_bad:
                    raise res
                skipped.append((it.name, str(res)))
                continue
            img, mask = res
            orig = img.shape[:2]
            if target is None and orig != tuple(hw):
                msg = (
                    f"{it.path}: size {orig[0]}×{orig[1]} differs from {hw[0]}×{hw[1]} of the first image; "
                    "pass --size to resize all images"
                )
                raise DataError(msg)
            if target is not None:
                if resize == "stretch" and (why := _stretch_warning(orig, target)):
                    warnings.append((it.name, why))
                img, mask = fit(img, mask, target, resize)
            if channels == 1 and not is_gray(img):
                warnings.append((it.name, "colour photo converted to gray (--color rgb keeps the colour)"))
            img = to_mode(img, channels)
            label = it.label
            writer.append(
                img,
                mask,
                label=label,
                defect_type=it.defect_type,
                split=it.split,
                name=it.name,
                source=it.name,
                provenance={
                    "importer": layout,
                    "file": it.name,
                    "original_size": list(orig),
                    "mask_file": it.mask_path.relative_to(root).as_posix() if it.mask_path else None,
                    "mask_empty_after_resize": bool(label and mask is not None and not mask.any()),
                    **({PROVENANCE_KEY: True} if it.name in moved else {}),
                },
            )
            if progress is not None:
                progress(done)
        if writer.n == 0:
            raise DataError(f"{root}: no image could be imported")
        if skipped:
            writer.set_attr("skipped", skipped)
        n = writer.n
        path = writer.close()
    except BaseException:
        writer.abort(keep=False)
        raise
    from adsynth.data.reader import DatasetReader

    return ImportSummary(path, n, DatasetReader(path).counts(), skipped, settings, warnings)

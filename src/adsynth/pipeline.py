"""Pipelines across the stages: what ``adsynth demo`` and ``adsynth eval --checkpoint`` do, as functions.

This is the one library layer that may use every package (data, synth, zoo, evaluate); the packages
themselves depend only downward (synth never imports the zoo). Everything heavy is imported inside
the functions, so importing this module stays cheap.

Example:
    >>> from adsynth.pipeline import evaluate_to_folder, run_demo
    >>> result = run_demo("adsynth-demo", model="padim", device="cpu", log=print)  # doctest: +SKIP
    >>> report, _ = evaluate_to_folder("test.h5", "report/", checkpoint="model.pt")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DemoResult", "checkpoint_reconstructor", "evaluate_to_folder", "run_demo"]


def checkpoint_reconstructor(checkpoint: str) -> Callable[[Any], Any]:
    """A zoo reconstruction checkpoint as the image function of the synth ``ognet`` generator (CPU).

    The ``checkpoint_loader`` that ``adsynth generate`` gives recipes: it imports the zoo (and torch)
    only when a recipe names a checkpoint, and, being a module-level function, reaches every worker
    process. It is :func:`adsynth.zoo.checkpoint.load_reconstructor` on the CPU, with one torch thread
    in a worker process.

    Example:
        >>> from adsynth.synth.engine import generate_dataset
        >>> load = checkpoint_reconstructor
        >>> generate_dataset("ognet-ae.yaml", "train.h5", checkpoint_loader=load)  # doctest: +SKIP
    """
    import multiprocessing

    import torch

    from adsynth.zoo.checkpoint import load_reconstructor

    if multiprocessing.parent_process() is not None:
        # In a generation worker: the workers are the parallelism (the engine gives OpenCV one thread
        # too), and a forked child must not enter the OpenMP pool of a parent that already ran torch
        # (it hangs there).
        torch.set_num_threads(1)
    return load_reconstructor(checkpoint, device="cpu")


def evaluate_to_folder(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    maps: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    split: str | None = "test",
    pro_limit: float = 0.3,
    sort_by: str | None = None,
    device: str = "auto",
    batch_size: int = 16,
    overwrite: bool = False,
    allow_other_data: bool = False,
) -> tuple[Any, Any]:
    """Score maps per defect type and write the report folder; with ``checkpoint``, predict them first.

    Args:
        data: the test dataset (``.h5``) with masks and defect types.
        out: the report folder (metrics.md/csv/json, per_image.csv, roc.png, pro.png, overlays/);
            with ``checkpoint`` it also receives the predicted ``maps.h5``.
        maps: a maps file or a folder of maps (exactly one of ``maps`` and ``checkpoint``).
        checkpoint: a zoo checkpoint whose maps are predicted on ``split``.
        split: the split to score (None: every sample).
        pro_limit: AUPRO integration limit (false-positive rate).
        sort_by: a metric to order rows by (default: by defect type).
        device: with ``checkpoint``: ``auto``, ``cpu``, ``cuda`` or ``cuda:i``.
        batch_size: with ``checkpoint``: images per forward pass.
        overwrite: replace the report of a folder that is not empty.
        allow_other_data: score a maps file that records another data file's fingerprint.

    Returns:
        The :class:`~adsynth.evaluate.report.Report` and the dataset reader.

    Raises:
        UsageError: not exactly one of ``maps`` and ``checkpoint``, or a non-empty ``out`` without
            ``overwrite``.
    """
    from adsynth.errors import UsageError
    from adsynth.evaluate.report import write_report
    from adsynth.evaluate.runner import evaluate_files, image_getter
    from adsynth.fsutil import remove_on_failure

    if (maps is None) == (checkpoint is None):
        raise UsageError("give exactly one of --maps and --checkpoint")
    out_dir = Path(out)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise UsageError(f"{out_dir} is not empty (pass --overwrite to replace the report)")
    # A failure (a bad checkpoint, dataset or maps) leaves no new report folder behind.
    with remove_on_failure(out_dir):
        if checkpoint is not None:
            from adsynth.zoo.deploy.predict import predict_dataset

            out_dir.mkdir(parents=True, exist_ok=True)
            maps = out_dir / "maps.h5"
            predict_dataset(
                checkpoint, data, maps, split=split, batch_size=batch_size, device=device, overwrite=True
            )
        assert maps is not None
        report, ds = evaluate_files(
            data, maps, split=split, limit=pro_limit, sort_by=sort_by, allow_other_data=allow_other_data
        )
        write_report(report, out_dir, overwrite=True, get_image=image_getter(ds))
    return report, ds


@dataclass
class DemoResult:
    """What :func:`run_demo` wrote: the report and the paths of its files."""

    report: Any
    root: Path
    train: Path
    test: Path
    checkpoint: Path
    maps: Path
    report_dir: Path


def run_demo(
    out: str | os.PathLike = "adsynth-demo",
    *,
    sample: str = "brick",
    model: str = "patchcore",
    epochs: int | None = None,
    size: int = 128,
    device: str = "auto",
    seed: int = 0,
    overwrite: bool = False,
    log: Callable[[str], Any] | None = None,
) -> DemoResult:
    """The README's main job on a bundled sample: synthetic test set, training, per-type evaluation.

    1. 64 normal training images and 64 held-out images cropped from the bundled photo ``sample``;
    2. a test set of synthetic defects from the held-out images (recipe ``mixed``, 30 % left normal);
    3. ``model`` trained on the normal images;
    4. its maps predicted on the test set and evaluated per defect type (report folder with plots).

    Args:
        out: folder for every file (train.h5, heldout.h5, test.h5, test_preview.png, run/, maps.h5,
            report/).
        sample: bundled sample name.
        model: zoo model name.
        epochs: training epochs (None: the model's default).
        size: image size.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:i``.
        seed: seed of the images, the synthesis and the training.
        overwrite: replace the datasets of an earlier demo (else OutputExistsError).
        log: called with one line per stage (``[1/5] ...``).
    """
    from adsynth.data.preview import contact_sheet
    from adsynth.data.samples import write_sample_dataset
    from adsynth.data.writer import check_output
    from adsynth.evaluate.report import write_report
    from adsynth.evaluate.runner import evaluate_files, image_getter
    from adsynth.synth.engine import generate_dataset
    from adsynth.zoo.deploy.predict import predict_dataset
    from adsynth.zoo.trainer import TrainConfig, train

    say = log or (lambda _msg: None)
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    train_h5, held_h5, test_h5 = root / "train.h5", root / "heldout.h5", root / "test.h5"
    maps_h5, report_dir = root / "maps.h5", root / "report"
    for p in (train_h5, held_h5, test_h5):
        check_output(p, overwrite)
    say(f"[1/5] bundled sample '{sample}': normal images → {train_h5}")
    write_sample_dataset(train_h5, sample, n=64, size=size, seed=seed, overwrite=overwrite)
    write_sample_dataset(held_h5, sample, n=64, size=size, seed=seed + 1000, overwrite=overwrite)
    say(f"[2/5] synthetic test set (recipe 'mixed', 30 % normal) → {test_h5}")
    generate_dataset(
        "mixed",
        test_h5,
        input=held_h5,
        split="test",
        normal_fraction=0.3,
        per_image=1,
        seed=seed + 1,
        overwrite=overwrite,
    )
    contact_sheet(test_h5, root / "test_preview.png", n=24, overwrite=True)
    say(f"[3/5] training {model} on {train_h5} (device {device})")
    res = train(
        TrainConfig(
            model=model,
            data=train_h5,
            out=root / "run",
            epochs=epochs,
            image_size=size,
            device=device,
            seed=seed,
            overwrite=True,
            workers=2,
        )
    )
    say(f"[4/5] predicting the test set → {maps_h5}")
    predict_dataset(res.checkpoint, test_h5, maps_h5, split="test", device=device, overwrite=True)
    say(f"[5/5] evaluating per defect type → {report_dir}/")
    report, ds = evaluate_files(test_h5, maps_h5, split="test")
    write_report(report, report_dir, overwrite=True, get_image=image_getter(ds))
    return DemoResult(report, root, train_h5, test_h5, Path(res.checkpoint), maps_h5, report_dir)


def calibrate_checkpoint(
    checkpoint: str | os.PathLike,
    data: str | os.PathLike,
    *,
    split: str | None = "val",
    fpr: float | None = None,
    device: str = "auto",
    batch_size: int = 16,
    progress: Any = None,
) -> dict[str, Any]:
    """Choose image and pixel thresholds on ``split`` of ``data`` and store them in ``checkpoint``.

    With ``fpr`` the thresholds flag at most that fraction of the normal images (and of their pixels);
    without it they are the F1-max thresholds of the split's defects (real or synthetic: a split made
    by ``adsynth generate --split val`` works). The checkpoint is rewritten atomically with a
    ``thresholds`` entry that ``adsynth predict --input`` uses for its decisions and regions.

    ``progress``: optional ``progress(n_done)``, called as the split's images are scored.

    Returns:
        The thresholds entry.
    """
    import tempfile

    from adsynth.data.maps import read_maps
    from adsynth.data.reader import DatasetReader
    from adsynth.errors import DataError
    from adsynth.zoo.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
    from adsynth.zoo.deploy.predict import predict_dataset

    ckpt = read_checkpoint(checkpoint)  # read once: the model to predict with and the file to update
    model = model_from_checkpoint(ckpt, str(checkpoint))
    ds = DatasetReader(data, split=split)
    if len(ds) == 0:
        raise DataError(f"{data}: no samples in split {split!r} (choose another with --split)")
    with tempfile.TemporaryDirectory(prefix="adsynth-calibrate-") as tmp:
        maps_file = Path(tmp) / "maps.h5"
        predict_dataset(
            model, data, maps_file, split=split, batch_size=batch_size, device=device, progress=progress
        )
        with read_maps(maps_file, names=ds.names) as ms:
            pairs = [ms[name] for name in ds.names]
    entry = calibrate_maps(ds, [m for m, _ in pairs], [s for _, s in pairs], fpr)
    entry.update(data=str(data), split=split or "all")
    ckpt["thresholds"] = entry
    save_checkpoint(checkpoint, ckpt)
    return entry


def calibrate_maps(ds: Any, maps: list, scores: list, fpr: float | None) -> dict[str, Any]:
    """The thresholds of ``ds``'s samples (a :class:`~adsynth.data.reader.DatasetReader`) from their maps
    and scores, with the pixels of the photos only: the letterbox padding of a ``--resize pad`` import is
    no more a normal pixel here than in ``eval``."""
    from adsynth.evaluate.runner import photo_boxes
    from adsynth.evaluate.thresholds import calibrate

    boxes = photo_boxes(ds)
    masks = [ds.read_mask(i) for i in range(len(ds))] if fpr is None else None

    def crop(a, box):
        if box is None or a.shape[:2] != ds.shape[:2]:
            return a
        top, left, h, w = box
        return a[top : top + h, left : left + w]

    maps = [crop(m, b) for m, b in zip(maps, boxes, strict=True)]
    if masks is not None:
        masks = [crop(m, b) for m, b in zip(masks, boxes, strict=True)]
    return calibrate(scores, ds.labels, maps, masks, fpr=fpr)

"""Run a trained model over a dataset and write a maps file for :mod:`adsynth.evaluate`.

The maps file is the format of :mod:`adsynth.data.maps` (docs/FORMAT.md), written batch by batch with
its :class:`~adsynth.data.maps.MapsWriter`: memory stays bounded and an interrupted run leaves no maps
file. Maps are upsampled (bilinear) from the model's resolution to the dataset's, so they align with its
masks.

Example:
    >>> from adsynth.zoo.deploy.predict import predict_dataset
    >>> res = predict_dataset("runs/draem/model.pt", "test.h5", "maps.h5")  # doctest: +SKIP
    >>> res.n  # doctest: +SKIP
    120
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from adsynth import __version__
from adsynth.data.maps import MapsWriter, check_maps_output
from adsynth.errors import ConfigError, DataError
from adsynth.zoo.checkpoint import data_fingerprint, model_from_checkpoint, read_checkpoint
from adsynth.zoo.data import ZooDataset
from adsynth.zoo.device import resolve_device


@dataclass
class PredictResult:
    """What :func:`predict_dataset` wrote."""

    path: Path
    n: int
    seconds: float
    images_per_s: float
    warning: str | None = None


def predict_dataset(
    model: Any,
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split: str | None = "test",
    batch_size: int = 16,
    device: str | torch.device = "auto",
    overwrite: bool = False,
    workers: int = 0,
    progress: Any = None,
) -> PredictResult:
    """Predict anomaly maps and scores for every sample of ``split`` and write ``out`` (maps.h5).

    Args:
        model: a checkpoint path (``model.pt``) or an :class:`~adsynth.zoo.base.AnomalyModel`.
        data: the dataset (``.h5``).
        out: the maps file to write.
        split: the split to predict (None: every sample).
        batch_size: images per forward pass.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:i``.
        overwrite: replace an existing ``out``.
        workers: DataLoader worker processes.
        progress: optional callable ``progress(n_done)``.

    Returns:
        A :class:`PredictResult`.
    """
    t0 = time.perf_counter()
    out = Path(out)
    check_maps_output(out, overwrite)  # before loading anything
    if int(batch_size) < 1:
        raise ConfigError(f"expected `batch_size` to be a positive int, got {batch_size}")
    dev = resolve_device(device)
    checkpoint, warning = None, None
    if isinstance(model, (str, os.PathLike)):
        checkpoint = str(model)
        ckpt = read_checkpoint(model)
        warning = _crop_warning(ckpt)
        model = model_from_checkpoint(ckpt, checkpoint).to(dev)
    else:
        model = model.to(dev)
    model.eval()
    dataset = ZooDataset(data, model.image_size, split=split)
    if len(dataset) == 0:
        raise DataError(f"{data}: no samples in split {split!r}")
    h, w, c = dataset.reader.shape
    if c != model.channels and not (c == 1 and model.channels == 3):
        raise ConfigError(f"model {type(model).name!r} takes {model.channels}-channel images, {data} has {c}")
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=int(batch_size),
        shuffle=False,
        num_workers=int(workers),
        pin_memory=dev.type == "cuda",
    )
    n = len(dataset)
    attrs = {
        "model": type(model).name,
        "model_config": json.dumps(model.config(), default=str),
        "checkpoint": checkpoint or "",
        "data": str(data),
        "data_fingerprint": data_fingerprint(data),
        "split": split or "all",
        "adsynth_version": __version__,
    }
    names = dataset.reader.names
    writer = MapsWriter(out, attrs=attrs, overwrite=overwrite, expected=n)
    with writer, torch.inference_mode():
        for batch in loader:
            x = batch["image"].to(dev, non_blocking=True)
            if x.shape[1] != model.channels:
                x = x.expand(-1, model.channels, -1, -1)
            pred = model.predict(x)
            amap = pred.anomaly_map.float()
            if amap.shape[-2:] != (h, w):
                amap = F.interpolate(amap[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
            done, b = writer.n, amap.shape[0]
            writer.append(
                amap.cpu().numpy(),
                pred.score.float().cpu().numpy(),
                names[done : done + b],
                batch["index"].numpy(),
            )
            if progress is not None:
                progress(writer.n)
    dt = time.perf_counter() - t0
    return PredictResult(path=out, n=n, seconds=dt, images_per_s=n / max(dt, 1e-9), warning=warning)


def _crop_warning(ckpt: dict[str, Any]) -> str | None:
    """What to say when a model trained on windows (``train --crop``) is shown whole resized images."""
    cfg = ckpt.get("train_config") or {}
    if not cfg.get("crop"):
        return None
    size = cfg.get("image_size")
    return (
        f"the model was trained on {size}-px windows at the photos' own resolution (train --crop); "
        f"--data resizes every image to {size} px, another scale: predict the photos with "
        "--input ... --fit tile to match its training"
    )

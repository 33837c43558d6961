"""Contact sheets: a grid of samples with their masks overlaid, for a quick look at a dataset."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adsynth.data.reader import DatasetReader
from adsynth.data.writer import check_output
from adsynth.errors import ConfigError, DataError


def pick_samples(ds: DatasetReader, n: int, seed: int = 0) -> list[int]:
    """Up to ``n`` indices covering every defect type as evenly as possible (seeded)."""
    rng = np.random.default_rng(seed)
    types = np.array(ds.defect_types, dtype=object)
    groups = {t: list(rng.permutation(np.flatnonzero(types == t))) for t in sorted(set(types))}
    picked: list[int] = []
    while len(picked) < n and any(groups.values()):
        for t in groups:
            if groups[t] and len(picked) < n:
                picked.append(int(groups[t].pop()))
    return picked


def overlay(image: np.ndarray, mask: np.ndarray, color=(255, 40, 40), alpha: float = 0.2) -> np.ndarray:
    """RGB image with ``mask`` tinted and outlined."""
    import cv2

    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image.copy()
    if mask.any():
        m = mask.astype(bool)
        tint = np.array(color, np.float32)
        rgb[m] = (rgb[m] * (1 - alpha) + tint * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(rgb, contours, -1, color, 1)
    return rgb


def contact_sheet(
    dataset: str | os.PathLike,
    out: str | os.PathLike,
    *,
    n: int = 24,
    cols: int = 6,
    tile: int = 160,
    seed: int = 0,
    overwrite: bool = False,
    **filters,
) -> Path:
    """Write a PNG grid of ``n`` samples (masks in red, defect type and label as captions)."""
    import cv2

    if n <= 0 or cols <= 0 or tile < 32:
        raise ConfigError("expected `n` > 0, `cols` > 0 and `tile` >= 32")
    out = check_output(out, overwrite)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"{out}: the preview is written as PNG; use a .png file name")
    ds = DatasetReader(dataset, **filters)
    if len(ds) == 0:
        raise DataError(f"{dataset}: no samples match the filters")
    idx = pick_samples(ds, n, seed)
    cols = min(cols, len(idx))
    rows = (len(idx) + cols - 1) // cols
    cap = 18
    sheet = np.full((rows * (tile + cap), cols * tile, 3), 255, np.uint8)
    for k, i in enumerate(idx):
        item = ds[i]
        img = overlay(item["image"], item["mask"])
        img = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        r, c = divmod(k, cols)
        y, x = r * (tile + cap), c * tile
        sheet[y + cap : y + cap + tile, x : x + tile] = img
        text = f"{item['defect_type']}" + (f" L{item['label']}" if item["label"] else "")
        cv2.putText(
            sheet, text[:22], (x + 3, y + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA
        )
    ds.close()
    ok, buf = cv2.imencode(".png", sheet[:, :, ::-1])
    if not ok:
        raise DataError(f"cannot encode {out}")
    tmp = out.with_name(out.name + ".partial")
    buf.tofile(tmp)
    os.replace(tmp, out)
    return out

"""Export an adsynth dataset back to the MVTec AD layout (readable by anomalib and other tools).

Layout written: ``<split>/<defect_type>/<stem>.png`` for every sample and
``ground_truth/<defect_type>/<stem>_mask.png`` (0/255) for every anomalous one. Stems are derived from
sample names, made safe (no path separators, no ``..``) and unique across the export. The export is
written to a temporary folder and renamed when complete.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from adsynth.data.reader import DatasetReader
from adsynth.errors import DataError, OutputExistsError

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_component(s: str, fallback: str = "x") -> str:
    """A single, harmless path component (no separators, no leading dots)."""
    out = _SAFE.sub("_", s).strip("._")
    return out or fallback


def _write_png(path: Path, img: np.ndarray) -> None:
    import cv2

    arr = img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else img
    if arr.ndim == 3:
        arr = arr[:, :, ::-1]  # RGB -> BGR for OpenCV
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise DataError(f"cannot encode {path}")
    buf.tofile(path)


def export_mvtec(
    dataset: str | os.PathLike, out: str | os.PathLike, *, overwrite: bool = False, **filters
) -> Counter:
    """Write ``dataset`` (optionally filtered by split/label/defect_type) as an MVTec AD folder.

    Returns the number of images written per (split folder, defect type).
    """
    ds = DatasetReader(dataset, **filters)
    root = Path(out)
    if root.exists() and not overwrite:
        raise OutputExistsError(f"{root} already exists (pass --overwrite to replace it)")
    if not root.parent.exists():
        raise DataError(f"output folder {root.parent} does not exist")
    tmp = root.with_name(root.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    counts: Counter = Counter()
    used: set[str] = set()
    try:
        for i in range(len(ds)):
            item = ds[i]
            split = item["split"]
            dtype_dir = safe_component(item["defect_type"], "unknown")
            stem = safe_component(Path(item["name"]).with_suffix("").as_posix().replace("/", "_"), f"{i:06d}")
            base, k = stem, 1
            while stem in used:
                stem, k = f"{base}_{k}", k + 1
            used.add(stem)
            img_dir = tmp / split / dtype_dir
            img_dir.mkdir(parents=True, exist_ok=True)
            target = (img_dir / f"{stem}.png").resolve()
            if tmp.resolve() not in target.parents:  # defence in depth: never write outside the export
                raise DataError(f"sample {item['name']!r}: unsafe export path")
            _write_png(target, item["image"])
            if item["label"] > 0:
                gt_dir = tmp / "ground_truth" / dtype_dir
                gt_dir.mkdir(parents=True, exist_ok=True)
                _write_png(gt_dir / f"{stem}_mask.png", (item["mask"] * 255).astype(np.uint8))
            counts[(split, item["defect_type"])] += 1
        if root.exists():
            shutil.rmtree(root) if root.is_dir() else root.unlink()
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        ds.close()
    return counts


__all__ = ["export_mvtec", "safe_component"]

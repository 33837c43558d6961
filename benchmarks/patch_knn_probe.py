"""Probe what lifts PatchCore's pixel AUROC / AUPRO on a dataset (the magnetic-tile `uneven` question).

Features of the bundled Lite0 (levels 2-3) are taken once; each variant then builds the memory (the
zoo's coreset, 10 %) and scores the test split with the project's metrics. The ``base`` variant is the
zoo's PatchCore defaults and reproduces ``adsynth train -m patchcore`` + ``adsynth eval`` exactly.

Variants: ``patch=P`` (neighbourhood of the local average), ``context=W`` (each patch feature extended by
W × its difference from the image's median feature), ``rows=W`` (``base`` map + W × the z-scored map of
row descriptors: features averaged across the width, nearest-neighbour distance to the normal rows),
``gate=W`` (map + W × the z-scored image score), ``blur=S`` (the map's Gaussian σ), ``maxz`` (max of the
z-scored maps of patch 3 and 7).

Usage:
    python benchmarks/patch_knn_probe.py --data mt128.h5 --variants base patch=5 rows=1 gate=0.25
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import h5py  # noqa: E402
import hdf5plugin  # noqa: E402,F401
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from adsynth.evaluate.metrics import aupro, image_metrics, pixel_auroc  # noqa: E402
from adsynth.zoo.backbones import create_backbone  # noqa: E402
from adsynth.zoo.bundled_weights import DEFAULT_BACKBONE  # noqa: E402
from adsynth.zoo.components.blur import gaussian_blur2d  # noqa: E402
from adsynth.zoo.components.pooling import pool_last_axis  # noqa: E402
from adsynth.zoo.coreset import greedy_coreset, nearest_distances  # noqa: E402


def levels(images: np.ndarray, batch: int = 32) -> list[torch.Tensor]:
    bb = create_backbone(DEFAULT_BACKBONE, (2, 3), pretrained=True).eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i : i + batch]).permute(0, 3, 1, 2).float().div(255)
            out.append(bb(x))
    return [torch.cat([o[k] for o in out]) for k in range(2)]


def embed(feats: list[torch.Tensor], patch: int, context: float) -> torch.Tensor:
    """B×D×h×w PatchCore features (the zoo's embedding), optionally with image context."""
    size = feats[0].shape[-2:]
    dim = sum(f.shape[1] for f in feats)
    parts = []
    for f in feats:
        f = F.avg_pool2d(f, patch, 1, patch // 2, count_include_pad=False)
        f = F.interpolate(f, size=size, mode="bilinear", align_corners=False)
        parts.append(pool_last_axis(f.permute(0, 2, 3, 1), dim))
    e = pool_last_axis(torch.cat(parts, -1), dim).permute(0, 3, 1, 2)
    if context:
        med = e.flatten(2).median(2).values[:, :, None, None]
        e = torch.cat([e, context * (e - med)], 1)
    return e


def knn_map(tr: torch.Tensor, te: torch.Tensor, ratio: float = 0.1) -> torch.Tensor:
    """Nearest-memory distance per test cell (B×h×w); tr/te are B×D×h×w (or B×D×h×1 for rows)."""
    d = tr.shape[1]
    bank = tr.permute(0, 2, 3, 1).reshape(-1, d)
    k = max(1, int(np.ceil(ratio * len(bank))))
    if k < len(bank):
        bank = bank[greedy_coreset(bank, k, 128, torch.Generator().manual_seed(0))]
    q = te.permute(0, 2, 3, 1).reshape(-1, d)
    return nearest_distances(q, bank)[0][:, 0].reshape(te.shape[0], te.shape[2], te.shape[3])


def to_map(cells: torch.Tensor, size: int, sigma: float) -> np.ndarray:
    m = F.interpolate(cells[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    return gaussian_blur2d(m, sigma).numpy()


def z(a: np.ndarray) -> np.ndarray:
    return (a - a.mean()) / a.std()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--variants", nargs="+", default=["base", "patch=5", "patch=7", "context=0.5", "rows=1"])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with h5py.File(args.data, "r") as f:
        images, split, masks = f["images"][:], f["split"][:], f["masks"][:]
        labels, types = f["labels"][:], f["defect_type"][:]
        names = [t.decode() if isinstance(t, bytes) else str(t) for t in f["defect_types"][:]]
    tr, te = np.where(split == 0)[0], np.where(split != 0)[0]
    gt, lab = masks[te] > 0, labels[te]
    uneven = names.index("uneven") if "uneven" in names else -1
    t0 = time.time()
    ftr, fte = levels(images[tr]), levels(images[te])
    print(f"features: {time.time() - t0:.0f} s; {len(tr)} train, {len(te)} test images")
    size = images.shape[1]
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def patch_map(p: int, context: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        if context or p not in cache:
            cells = knn_map(embed(ftr, p, context), embed(fte, p, context))
            out = (to_map(cells, size, 4.0), cells.flatten(1).max(1).values.numpy())
            if context:
                return out
            cache[p] = out
        return cache[p]

    print(
        "| variant | image AUROC | pixel AUROC | AUPRO@0.3 | uneven pixel AUROC "
        "| pixel AUROC, defective images only |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for v in args.variants:
        key, _, val = v.partition("=")
        w = float(val) if val else 0.0
        amap, score = patch_map(3)
        if key == "patch":
            amap, score = patch_map(int(w))
        elif key == "context":
            amap, score = patch_map(3, w)
        elif key == "rows":
            rows = knn_map(embed(ftr, 3, 0).mean(3, keepdim=True), embed(fte, 3, 0).mean(3, keepdim=True))
            cells = rows.expand(-1, -1, fte[0].shape[-1]).contiguous()
            amap = z(amap) + w * z(to_map(cells, size, 4.0))
        elif key == "gate":
            amap = z(amap) + w * ((score - score.mean()) / score.std())[:, None, None]
        elif key == "blur":
            cells = knn_map(embed(ftr, 3, 0), embed(fte, 3, 0))
            amap = to_map(cells, size, w)
        elif key == "maxz":
            amap = np.maximum(z(amap), z(patch_map(7)[0]))
        elif key != "base":
            raise SystemExit(f"unknown variant {v!r}")
        sel = (types[te] == uneven) | (lab == 0)
        row = [
            image_metrics(score, lab)["image_auroc"],
            pixel_auroc(amap, gt),
            aupro(amap, gt),
            pixel_auroc(amap[sel], gt[sel]) if uneven >= 0 else float("nan"),
            pixel_auroc(amap[lab == 1], gt[lab == 1]),
        ]
        print(f"| {v} | " + " | ".join(f"{x:.4f}" for x in row) + " |", flush=True)


if __name__ == "__main__":
    main()

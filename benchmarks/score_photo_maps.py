"""Score ``adsynth predict --input <dataset>/test --save-maps`` against the masks at the photos' own size.

An MVTec-layout folder (``test/<type>/*.png``, ``ground_truth/<type>/<stem>_mask.png``, normal photos in
``test/good``) whose photos differ in size cannot go into one .h5 file, so ``adsynth eval`` cannot score
it at native resolution; this script does, with the project's metrics (per defect type = the normal test
photos + that type; ``all`` = every test photo). It is how the squash / pad / tile table of
docs/DEPLOY.md is made:

    adsynth predict --checkpoint runs/sq/model.pt --input magnetic_tile/test --out res --fit pad --save-maps
    python benchmarks/score_photo_maps.py --results res --dataset magnetic_tile
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from adsynth.data.images import read_mask
from adsynth.data.importers import scan_mvtec
from adsynth.errors import DataError
from adsynth.evaluate.metrics import image_metrics, pixel_metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", required=True, help="the predict --input folder (results.csv, maps/)")
    ap.add_argument("--dataset", required=True, help="the MVTec-layout folder the test photos came from")
    ap.add_argument("--pro-limit", type=float, default=0.3)
    a = ap.parse_args(argv)
    res, root = Path(a.results), Path(a.dataset)
    try:
        with open(res / "results.csv", newline="") as f:
            scores = {r["name"]: float(r["score"]) for r in csv.DictReader(f)}
    except OSError as e:
        ap.error(f"--results: cannot read {res / 'results.csv'}: {e.strerror}")
    try:
        items, missing = scan_mvtec(root)  # the importer's reading of the layout and its masks
    except DataError as e:
        ap.error(f"--dataset: {e}")
    if missing:
        ap.error(f"--dataset: {missing[0][0]}: {missing[0][1]}")
    tests = [it for it in items if it.split == "test"]
    types = sorted({it.defect_type for it in tests if it.label})
    by_type: dict[str, list[tuple[np.ndarray, np.ndarray, float, int]]] = {t: [] for t in ["good", *types]}
    for it in tests:
        name = it.name.removeprefix("test/")  # predict --input <dataset>/test names photos from there
        path = res / "maps" / f"{name}.npy"
        if name not in scores or not path.is_file():
            ap.error(
                f"--results: no result and map for {name} (run predict --input {root / 'test'} --save-maps)"
            )
        amap = np.load(path, allow_pickle=False)
        mask = read_mask(it.mask_path) if it.label else np.zeros(amap.shape, np.uint8)
        if mask.shape != amap.shape:
            ap.error(f"{path}: map {amap.shape} but mask {mask.shape}: not at the photo's size")
        by_type[it.defect_type if it.label else "good"].append((amap, mask, scores[name], it.label))
    print(f"| defect type | images | image AUROC | pixel AUROC | AUPRO@{a.pro_limit:g} |")
    print("|---|---:|---:|---:|---:|")
    for t in [*types, "all"]:
        rows = by_type["good"] + ([r for k in types for r in by_type[k]] if t == "all" else by_type[t])
        img = image_metrics([r[2] for r in rows], [r[3] for r in rows])
        pix = pixel_metrics([r[0] for r in rows], [r[1] for r in rows], limit=a.pro_limit)
        vals = (img["image_auroc"], pix["pixel_auroc"], pix["aupro"])
        print(f"| {t} | {len(rows)} | " + " | ".join(f"{float(v):.3f}" for v in vals) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

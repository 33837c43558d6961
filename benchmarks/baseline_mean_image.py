"""A simple baseline for trying ``adsynth eval``: blurred absolute difference to the mean normal image.

Writes an adsynth maps file for the test split of a dataset:

    python benchmarks/baseline_mean_image.py --data parts.h5 --out maps.h5
    adsynth eval --maps maps.h5 --data parts.h5 --out report/
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from adsynth.data import DatasetReader
from adsynth.data.maps import write_maps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sigma", type=float, default=4.0)
    ap.add_argument("--overwrite", action="store_true")
    args = ap.parse_args()
    train = DatasetReader(args.data, split="train", label="normal")
    mean = np.zeros(train.shape, np.float64)
    for i in range(len(train)):
        mean += train.read_image(i)
    mean /= max(len(train), 1)
    test = DatasetReader(args.data, split="test")
    maps = np.empty((len(test), *test.shape[:2]), np.float32)
    for i in range(len(test)):
        diff = np.abs(test.read_image(i).astype(np.float64) - mean).mean(axis=2)
        maps[i] = cv2.GaussianBlur(diff.astype(np.float32), (0, 0), args.sigma)
    write_maps(
        args.out,
        maps,
        np.full(len(test), np.nan, np.float32),
        test.names,
        test.indices,
        attrs={"model": "mean-image-baseline", "sigma": args.sigma},
        overwrite=args.overwrite,
    )
    print(f"wrote {args.out}: {len(test)} maps")


if __name__ == "__main__":
    main()

"""Combine the anomaly maps of several trained models into one maps file, normalised on normal images only.

Each model's maps and scores are z-scored with the mean and standard deviation of its own maps and scores
on the *training* split (normal images: no test label or mask is used), resized to the largest map size
(bilinear), then averaged (or their maximum taken). The result is a maps.h5 that ``adsynth eval`` scores
like any model's.

    adsynth predict --checkpoint runs/a/model.pt --data mt256.h5 --out a.h5
    adsynth predict --checkpoint runs/a/model.pt --data mt256.h5 --split train --out a-train.h5
    (the same for b)
    python benchmarks/map_ensemble.py --member a.h5 a-train.h5 --member b.h5 b-train.h5 --out ens.h5
    adsynth eval --maps ens.h5 --data mt256.h5 --out report/

Members may come from datasets of different sizes (e.g. a 128 px and a 256 px import of the same photos):
samples are matched by name.
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from adsynth.data.maps import check_maps_output, read_maps, write_maps
from adsynth.errors import AdsynthError


def _stats(path: str) -> tuple[float, float, float, float]:
    """Mean / std of the pixels and of the image scores of a maps file (streamed, float64 sums)."""
    n = s = ss = 0.0
    scores = []
    with read_maps(path) as ms:
        for name in ms.names:
            m, sc = ms[name]
            m = m.astype(np.float64)
            n += m.size
            s += m.sum()
            ss += np.square(m).sum()
            scores.append(sc)
    mean = s / n
    std = max(np.sqrt(max(ss / n - mean * mean, 0.0)), 1e-12)
    sc = np.asarray(scores, np.float64)
    return mean, std, float(np.nanmean(sc)), max(float(np.nanstd(sc)), 1e-12)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--member",
        nargs=2,
        action="append",
        metavar=("TEST_MAPS", "TRAIN_MAPS"),
        required=True,
        help="a model's maps of the split to score, and of the training split (normal images)",
    )
    ap.add_argument("--weights", type=float, nargs="+", help="one weight per member (default: equal)")
    ap.add_argument("--combine", choices=["mean", "max"], default="mean")
    ap.add_argument("--out", required=True)
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    k = len(a.member)
    w = np.asarray(a.weights if a.weights else [1.0] * k, np.float64)
    if len(w) != k:
        ap.error(f"--weights: expected {k} values (one per --member), got {len(w)}")
    try:  # an existing output, a missing or foreign file: one line, nothing written
        check_maps_output(a.out, a.overwrite)
        stats = [_stats(train) for _, train in a.member]
        sets = [read_maps(test) for test, _ in a.member]
    except AdsynthError as e:
        ap.error(str(e))
    try:
        names = list(sets[0].names)
        for s, (test, _) in zip(sets[1:], a.member[1:], strict=True):
            missing = [n for n in names if n not in s]
            if missing:
                ap.error(f"{test}: {len(missing)} samples of the first member missing, e.g. {missing[0]!r}")
        h = max(s[names[0]][0].shape[0] for s in sets)
        wd = max(s[names[0]][0].shape[1] for s in sets)
        maps = np.empty((len(names), h, wd), np.float32)
        scores = np.empty(len(names), np.float64)
        for i, name in enumerate(names):
            zs, zsc = [], []
            for s, (mu, sd, smu, ssd) in zip(sets, stats, strict=True):
                m, sc = s[name]
                z = ((m.astype(np.float64) - mu) / sd).astype(np.float32)
                if z.shape != (h, wd):
                    z = cv2.resize(z, (wd, h), interpolation=cv2.INTER_LINEAR)
                zs.append(z)
                zsc.append((sc - smu) / ssd)
            zs = np.stack(zs)
            zsc = np.asarray(zsc)
            if a.combine == "mean":
                maps[i] = np.tensordot(w / w.sum(), zs, axes=1)
                scores[i] = float(np.dot(w / w.sum(), zsc))
            else:
                maps[i] = (zs * w[:, None, None]).max(0)
                scores[i] = float((zsc * w).max())
        index = sets[0].index
    finally:
        for s in sets:
            s.close()
    write_maps(a.out, maps, scores, names, index, attrs={"ensemble": repr(a.member)}, overwrite=a.overwrite)
    print(f"wrote {a.out}: {len(names)} maps of {h}x{wd} from {k} members ({a.combine})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Why is a pooled pixel AUROC what it is? Split it by where the positive and negative pixels come from.

The pooled pixel AUROC of ``adsynth eval`` compares *every* defect pixel of the test split with *every*
normal pixel, including the normal pixels of the defective photos. This script scores each defect type's
defect pixels separately against three groups of normal pixels:

* ``vs good photos``: the pixels of the defect-free test photos;
* ``vs other defective photos``: the normal pixels of the photos of the other defect types;
* ``vs same type``: the normal pixels of the photos of the same type;

and reports, per type, the median map value of its normal pixels and how separable those normal pixels
are from the pixels of the defect-free photos (``shift AUROC``: 0.5 = no shift; near 1 = the normal parts
of these photos already score like anomalies, which no localisation can fix). ``photo AUROC`` tells the
defective photos from the defect-free ones by the median of the map over pixels at least ``--margin``
pixels away from any defect, i.e. without looking at the defect: well above 0.5 means the test set's
defective and defect-free photos differ as a whole (another collection, camera, batch), and image AUROC
measures that difference as much as the defects. ``within photo`` is the mean over the defective photos
of each photo's own pixel AUROC (its defect against the rest of it): free of any photo-level shift.
``windows`` is a detection figure inside the same collection: each photo is cut into a grid of square
windows (``--window``, a fraction of its side), a window scores the maximum of the map in it, and the
windows that hold a defect are ranked against the windows of *defective* photos that are at least
``--margin`` pixels from any defect (for comparison ``windows vs good``: against the defect-free photos'
windows). The ``all`` row's pooled pixel AUROC equals ``adsynth eval``'s.

    adsynth predict --checkpoint runs/patchcore/model.pt --data mt128.h5 --out maps.h5
    python benchmarks/pixel_auroc_breakdown.py --maps maps.h5 --data mt128.h5

Exact (every pixel, Mann-Whitney with ties), the maps resized to the masks as ``adsynth eval`` does.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np
from scipy import ndimage

from adsynth.data.reader import DatasetReader
from adsynth.errors import AdsynthError, DataError
from adsynth.evaluate.accumulators import resize_to_mask
from adsynth.evaluate.io import open_maps
from adsynth.evaluate.metrics import auroc
from adsynth.evaluate.ranking import auroc_sorted, merge_sorted


def _windows(amap: np.ndarray, keep: np.ndarray, frac: float, *more: np.ndarray) -> tuple[np.ndarray, ...]:
    """(max of ``amap`` per grid window, whether ``keep`` — and each of ``more`` — has any pixel in it);
    a ragged last row / column of windows joins the one before it. One pass over the grid."""
    h, w = amap.shape
    k = max(1, round(min(h, w) * frac))
    ys, xs = np.arange(0, max(h - k, 0) + 1, k), np.arange(0, max(w - k, 0) + 1, k)
    ye, xe = np.r_[ys[1:], h], np.r_[xs[1:], w]
    cells = [
        (slice(a, b), slice(c, d)) for a, b in zip(ys, ye, strict=True) for c, d in zip(xs, xe, strict=True)
    ]
    return (
        np.array([amap[c].max() for c in cells]),
        *(np.array([m[c].any() for c in cells]) for m in (keep, *more)),
    )


def breakdown(data: str, maps: str, split: str = "test", margin: float = 8.0, window: float = 0.25) -> dict:
    """Per defect type: pixel counts, medians and the AUROCs described in the module docstring."""
    ds = DatasetReader(data, split=split)
    if len(ds) == 0:
        raise DataError(f"{data}: no samples in split {split!r}")
    pos: dict[str, list[np.ndarray]] = defaultdict(list)
    neg: dict[str, list[np.ndarray]] = defaultdict(list)
    images: dict[str, int] = defaultdict(int)
    good: list[np.ndarray] = []
    photo: dict[str, list[float]] = defaultdict(list)  # median of the map away from defects, per type
    within: dict[str, list[float]] = defaultdict(list)  # each defective photo's own pixel AUROC
    win_pos: dict[str, list[np.ndarray]] = defaultdict(list)  # scores of windows holding a defect
    win_neg: list[np.ndarray] = []  # windows of defective photos away from every defect
    win_good: list[np.ndarray] = []  # windows of the defect-free photos
    labels, types = ds.labels, ds.defect_types
    with open_maps(maps, names=ds.names) as ms:
        for i, name in enumerate(ds.names):
            inside = ds.read_mask(i) > 0
            amap = resize_to_mask(ms[name][0], inside.shape)
            away = ndimage.distance_transform_edt(~inside) > margin if inside.any() else ~inside
            if int(labels[i]) == 0:
                good.append(amap[~inside])
                photo[""].append(float(np.median(amap)))
                win_good.append(_windows(amap, inside, window)[0])
                continue
            t = str(types[i])
            if away.any():
                photo[t].append(float(np.median(amap[away])))
            if inside.any() and not inside.all():
                within[t].append(float(auroc(amap.ravel(), inside.ravel())))
            ws, hit, near = _windows(amap, inside, window, ~away)
            win_pos[t].append(ws[hit])
            win_neg.append(ws[~near])
            images[t] += 1
            pos[t].append(amap[inside])
            neg[t].append(amap[~inside])
    if not good:
        raise DataError(f"{data}: split {split!r} has no defect-free photos to compare with")
    if not pos:
        raise DataError(f"{data}: split {split!r} has no defective photos")
    g = merge_sorted(good)
    P = {t: merge_sorted(v) for t, v in pos.items()}
    N = {t: merge_sorted(v) for t, v in neg.items()}
    n_pos = sum(a.size for a in P.values())
    wn, wg = merge_sorted(win_neg), merge_sorted(win_good)
    wp = {t: merge_sorted(v) for t, v in win_pos.items()}
    gp = photo.pop("")

    def photo_auroc(vals: list[float]) -> float:
        return auroc(np.r_[gp, vals], np.r_[np.zeros(len(gp)), np.ones(len(vals))]) if vals else float("nan")

    rows = {}
    for t in sorted(P):
        others = [N[u] for u in N if u != t]
        rows[t] = {
            "images": images[t],
            "defect_pixels": int(P[t].size),
            "share": P[t].size / n_pos,
            "median_normal": float(np.median(N[t])) if N[t].size else float("nan"),
            "median_defect": float(np.median(P[t])) if P[t].size else float("nan"),
            "vs_good": auroc_sorted([g], [P[t]]),
            "vs_other": auroc_sorted(others, [P[t]]) if others else float("nan"),
            "vs_same": auroc_sorted([N[t]], [P[t]]),
            "shift": auroc_sorted([g], [N[t]]),
            "photo": photo_auroc(photo[t]),
            "within": float(np.mean(within[t])) if within[t] else float("nan"),
            "windows": auroc_sorted([wn], [wp[t]]),
            "windows_good": auroc_sorted([wg], [wp[t]]),
        }
    negs = [g, *N.values()]
    rows["all"] = {
        "images": sum(images.values()),
        "defect_pixels": n_pos,
        "share": 1.0,
        "median_normal": float(np.median(merge_sorted(list(N.values())))),
        "median_defect": float(np.median(merge_sorted(list(P.values())))),
        "vs_good": auroc_sorted([g], list(P.values())),
        "vs_other": auroc_sorted(list(N.values()), list(P.values())),
        "vs_same": float("nan"),
        "shift": auroc_sorted([g], list(N.values())),
        "photo": photo_auroc([v for t in sorted(photo) for v in photo[t]]),
        "within": float(np.mean([v for t in sorted(within) for v in within[t]])),
        "windows": auroc_sorted([wn], list(wp.values())),
        "windows_good": auroc_sorted([wg], list(wp.values())),
        "pooled": auroc_sorted(negs, list(P.values())),
    }
    return {"good_images": len(good), "median_good": float(np.median(g)), "rows": rows}


def _f(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    return "–" if np.isnan(x) else f"{x:.4f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--maps", required=True, help="maps.h5 of adsynth predict, or a folder of maps")
    ap.add_argument("--data", required=True, help="the dataset the maps were predicted on")
    ap.add_argument("--split", default="test")
    ap.add_argument("--margin", type=float, default=8.0, help="pixels between a defect and the photo median")
    ap.add_argument("--window", type=float, default=0.25, help="window side as a fraction of the photo's")
    a = ap.parse_args(argv)
    if not 0 < a.window <= 1:
        ap.error(f"--window: expected a fraction of the photo's side in (0, 1], got {a.window:g}")
    if a.margin < 0:
        ap.error(f"--margin: expected pixels >= 0, got {a.margin:g}")
    try:
        r = breakdown(a.data, a.maps, a.split, a.margin, a.window)
    except AdsynthError as e:
        ap.error(str(e))
    rows = r["rows"]
    print(
        f"pooled pixel AUROC {_f(rows['all']['pooled'])}; {r['good_images']} defect-free photos, "
        f"median map value of their pixels {r['median_good']:.4g}\n"
    )
    print(
        "| defect type | photos | defect pixels (share) | median, normal pixels | median, defect pixels "
        "| defect vs good photos | vs other defective photos | vs same type | shift AUROC | photo AUROC "
        "| within photo | windows | windows vs good |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t, x in rows.items():
        print(
            f"| {t} | {x['images']} | {x['defect_pixels']} ({100 * x['share']:.0f} %) "
            f"| {x['median_normal']:.4g} | {x['median_defect']:.4g} | {_f(x['vs_good'])} "
            f"| {_f(x['vs_other'])} | {_f(x['vs_same'])} | {_f(x['shift'])} | {_f(x['photo'])} "
            f"| {_f(x['within'])} | {_f(x['windows'])} | {_f(x['windows_good'])} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

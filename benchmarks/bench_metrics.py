"""Speed and memory of the evaluation metrics; prints a table.

Compares adsynth's AUPRO with a plain NumPy transcription of the official MVTec AD algorithm
(written below from its description in METHODS.md section 7.1: per-pixel change arrays, one argsort
of all scores, cumulative sums, tie merging, trapezoid with interpolation at the limit), and the pixel
AUROC/AP with scikit-learn; then times a full per-defect-type evaluation.

Usage:
    python benchmarks/bench_metrics.py [--maps 100] [--size 256] [--full 1000] [--no-sklearn]
"""

from __future__ import annotations

import argparse
import bisect
import gc
import time
import tracemalloc

import cv2
import numpy as np
from scipy import ndimage

from adsynth.evaluate.metrics import aupro, pixel_metrics
from adsynth.evaluate.report import MapSample, evaluate

# ------------------------------------------------------------------ plain official-style reference


def official_style_pro_curve(maps: np.ndarray, gts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PRO curve exactly as the official script builds it (dense per-pixel arrays, one argsort)."""
    structure = np.ones((3, 3), dtype=int)
    fp_change = np.zeros(gts.shape, dtype=np.uint32)
    pro_change = np.zeros(gts.shape, dtype=np.float64)
    n_ok = 0
    n_regions = 0
    for i, gt in enumerate(gts):
        labeled, n = ndimage.label(gt, structure)
        n_regions += n
        ok = labeled == 0
        n_ok += int(ok.sum())
        fp_change[i][ok] = 1
        for k in range(1, n + 1):
            region = labeled == k
            pro_change[i][region] = 1.0 / region.sum()
    scores = maps.ravel()
    order = scores.argsort()[::-1]
    scores_sorted = scores[order]
    fp_sorted = fp_change.ravel()[order]
    pro_sorted = pro_change.ravel()[order]
    del order
    np.cumsum(fp_sorted, out=fp_sorted)
    fprs = fp_sorted.astype(np.float32) / np.float32(n_ok)
    np.cumsum(pro_sorted, out=pro_sorted)
    pros = pro_sorted / n_regions
    keep = np.append(np.diff(scores_sorted) != 0, True)
    fprs = np.clip(fprs[keep], None, 1.0)
    pros = np.clip(pros[keep], None, 1.0)
    return np.concatenate(([0.0], fprs, [1.0])), np.concatenate(([0.0], pros, [1.0]))


def official_style_trapezoid(x: np.ndarray, y: np.ndarray, x_max: float) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    correction = 0.0
    if x_max not in x:
        ins = bisect.bisect(x, x_max)
        assert 0 < ins < len(x)
        y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
        correction = 0.5 * (y_interp + y[ins - 1]) * (x_max - x[ins - 1])
    keep = x <= x_max
    x, y = x[keep], y[keep]
    return float(0.5 * np.sum((y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def official_style_aupro(maps: np.ndarray, gts: np.ndarray, limit: float = 0.3) -> float:
    fpr, pro = official_style_pro_curve(maps, gts)
    return official_style_trapezoid(fpr, pro, limit) / limit


# ------------------------------------------------------------------ synthetic test sets


def make_case(n: int, size: int, seed: int, quantize: bool) -> tuple[np.ndarray, np.ndarray]:
    """Smooth random maps, half the images with 1-3 elliptic defects that score higher."""
    rng = np.random.default_rng(seed)
    maps = np.empty((n, size, size), np.float32)
    gts = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        noise = rng.standard_normal((size // 8, size // 8)).astype(np.float32)
        maps[i] = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
        if i % 2:
            for _ in range(rng.integers(1, 4)):
                c = tuple(int(v) for v in rng.integers(0, size, 2))
                axes = tuple(int(v) for v in rng.integers(2, size // 8, 2))
                cv2.ellipse(gts[i], c, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            maps[i] += 1.5 * cv2.GaussianBlur(gts[i].astype(np.float32), (0, 0), 3)
    if quantize:  # 8-bit scores: heavy ties
        lo, hi = maps.min(), maps.max()
        maps = np.round((maps - lo) / (hi - lo) * 255).astype(np.float32) / 255
    return maps, gts


# ------------------------------------------------------------------ measuring


def timed(fn, repeat: int = 3):
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def peak_bytes(fn) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", type=int, default=100)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--full", type=int, default=1000, help="maps in the full evaluation (0 to skip)")
    ap.add_argument("--no-sklearn", action="store_true")
    args = ap.parse_args()
    n_px = args.maps * args.size * args.size

    print(f"AUPRO@0.3 on {args.maps} maps of {args.size}x{args.size} ({n_px / 1e6:.1f} M pixels)\n")
    print(
        "| case | official-style (s) | adsynth (s) | speed-up | max abs diff | peak MB official | "
        "peak MB adsynth (B/px) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, quantize in (("continuous scores", False), ("8-bit scores (ties)", True)):
        maps, gts = make_case(args.maps, args.size, seed=0, quantize=quantize)
        t_ref, ref = timed(lambda m=maps, g=gts: official_style_aupro(m, g), repeat=2)
        t_ours, ours = timed(lambda m=maps, g=gts: aupro(m, g))
        diffs = [abs(ours - ref)]
        for lim in (0.05, 1.0):
            diffs.append(abs(aupro(maps, gts, lim) - official_style_aupro(maps, gts, lim)))
        m_ref = peak_bytes(lambda m=maps, g=gts: official_style_aupro(m, g))
        m_ours = peak_bytes(lambda m=maps, g=gts: aupro(m, g))
        print(
            f"| {label} | {t_ref:.3f} | {t_ours:.3f} | {t_ref / t_ours:.1f}x | {max(diffs):.1e} | "
            f"{m_ref / 2**20:.0f} | {m_ours / 2**20:.0f} ({m_ours / n_px:.1f}) |"
        )
    print("\n(max abs diff over limits 0.3, 0.05 and 1.0; peak = tracemalloc peak beyond the input maps)\n")

    maps, gts = make_case(args.maps, args.size, seed=1, quantize=True)
    t_pix, pix = timed(lambda: pixel_metrics(maps, gts))
    m_pix = peak_bytes(lambda: pixel_metrics(maps, gts))
    print("Pixel AUROC / AP / F1-max / AUPRO in one pass (8-bit scores, ties):")
    print("| implementation | time (s) | pixel AUROC | pixel AP | peak MB |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| adsynth pixel_metrics | {t_pix:.3f} | {pix['pixel_auroc']:.6f} | {pix['pixel_ap']:.6f} | "
        f"{m_pix / 2**20:.0f} |"
    )
    if not args.no_sklearn:
        from sklearn.metrics import average_precision_score, roc_auc_score

        y, s = gts.ravel(), maps.ravel()
        t_sk, (auc_sk, ap_sk) = timed(lambda: (roc_auc_score(y, s), average_precision_score(y, s)), 1)
        print(
            f"| scikit-learn roc_auc_score + average_precision_score | {t_sk:.3f} | {auc_sk:.6f} | "
            f"{ap_sk:.6f} | - |"
        )
        print(
            f"\nmax abs diff vs scikit-learn: AUROC {abs(auc_sk - pix['pixel_auroc']):.1e}, "
            f"AP {abs(ap_sk - pix['pixel_ap']):.1e}"
        )

    if args.full:
        types = ("crack", "cutpaste-scar", "hole", "scratch", "stain")
        block, gblock = make_case(100, args.size, seed=2, quantize=False)
        samples = []
        for i in range(args.full):
            j = i % 100
            amap = block[j] + np.float32(i * 1e-3)  # distinct maps, same statistics
            if gblock[j].any():
                samples.append(MapSample(f"{types[i % 5]}/{i:04d}.png", amap, gblock[j], 1, types[i % 5]))
            else:
                samples.append(MapSample(f"good/{i:04d}.png", amap, gblock[j], 0, "good"))
        n_full = args.full * args.size * args.size
        t_full, rep = timed(lambda: evaluate(samples), repeat=1)
        m_full = peak_bytes(lambda: evaluate(samples))
        print(
            f"\nFull evaluation: {args.full} maps of {args.size}x{args.size} ({n_full / 1e6:.1f} M pixels), "
            f"{len(types)} defect types + all, every metric:"
        )
        print("| time (s) | peak MB beyond the maps | bytes/pixel |")
        print("|---:|---:|---:|")
        print(f"| {t_full:.2f} | {m_full / 2**20:.0f} | {m_full / n_full:.1f} |")
        print(f"\nall row: {{{', '.join(f'{k}: {float(v):.4f}' for k, v in rep.rows['all'].items())}}}")


if __name__ == "__main__":
    main()

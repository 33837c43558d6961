"""Dataset I/O throughput: codec choice, import speed and random-access reads of the reader.

Prints markdown tables. Run: ``python benchmarks/bench_io.py [--mvtec PATH] [--n 512]``.
The issue target: the reader sustains at least 1500 images/s (256×256 RGB, random access, one process).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from adsynth.data import DatasetReader, DatasetWriter
from adsynth.data.samples import sample_images


def make_images(n: int, size: int) -> list[np.ndarray]:
    # Real photo/texture content (compresses like real data, unlike random noise).
    base = sample_images("coffee", n=min(n, 64), size=size, seed=0)
    return [base[i % len(base)][1] for i in range(n)]


def bench_codec(images: list[np.ndarray], codec: str | None, tmp: Path) -> dict:
    h, w, c = images[0].shape
    p = tmp / f"codec_{codec}.h5"
    t = time.perf_counter()
    with DatasetWriter(p, height=h, width=w, channels=c, compression=codec, overwrite=True) as wr:
        for i, im in enumerate(images):
            wr.append(im, name=f"{i}")
    t_write = time.perf_counter() - t
    ds = DatasetReader(p)
    order = np.random.default_rng(0).permutation(len(ds))
    ds[0]
    t = time.perf_counter()
    for i in order:
        ds[int(i)]
    t_read = time.perf_counter() - t
    return {
        "codec": codec or "none",
        "MB": os.path.getsize(p) / 2**20,
        "write img/s": len(images) / t_write,
        "read img/s": len(images) / t_read,
    }


def bench_import(mvtec: str, tmp: Path) -> dict:
    from adsynth.data.importers import import_dataset

    t = time.perf_counter()
    s = import_dataset(mvtec, tmp / "import.h5", size=256, workers=2, overwrite=True)
    dt = time.perf_counter() - t
    return {"images": s.n_written, "seconds": dt, "img/s": s.n_written / dt}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--mvtec", default=None, help="an MVTec-layout folder to time the importer on")
    args = ap.parse_args()
    images = make_images(args.n, args.size)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(
            f"## Codecs: {args.n} RGB images of {args.size}×{args.size}, random-access reads, one process\n"
        )
        print("| codec | file MB | write img/s | read img/s | read target 1500 |")
        print("|---|---|---|---|---|")
        for codec in ("blosc-lz4", "blosc-zstd", "lzf", "gzip", None):
            r = bench_codec(images, codec, tmp)
            ok = "pass" if r["read img/s"] >= 1500 else "FAIL"
            print(f"| {r['codec']} | {r['MB']:.1f} | {r['write img/s']:.0f} | {r['read img/s']:.0f} | {ok} |")
        if args.mvtec:
            r = bench_import(args.mvtec, tmp)
            print(f"\n## Import of {args.mvtec} at 256×256 (2 decoding threads)\n")
            print("| images | seconds | img/s |\n|---|---|---|")
            print(f"| {r['images']} | {r['seconds']:.2f} | {r['img/s']:.0f} |")


if __name__ == "__main__":
    main()

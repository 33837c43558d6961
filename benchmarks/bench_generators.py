"""Throughput of every registered generator, and of ``adsynth generate`` end to end; prints two tables.

Table 1: each generator is timed through :meth:`Generator.synthesize` on one process, defect, mask and
provenance (``json.dumps`` of the drawn params) included, on 256×256 RGB images made from scikit-image's
bundled photos, cycling over the images with one ``numpy.random.Generator``. Generators that need a pool
get the photos as their pool. A generator module that cannot be imported is listed with a note instead
of failing the run.

Table 2: :func:`adsynth.synth.engine.generate_dataset` for a few recipes on an adsynth dataset of 256
normal 256×256 RGB images (random crops of the photos, written once with ``DatasetWriter`` to a
temporary folder), with 2 worker processes: reading, synthesis and the HDF5 write included.

Usage:
    python benchmarks/bench_generators.py [--size 256] [--seconds 2] [--pattern "cutpaste*"]
        [--recipes cutpaste draem] [--workers 2] [--skip-e2e]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

from adsynth.synth import GENERATORS, ImagePool, SynthContext, create_generator  # noqa: E402

# Minimum images per second (one process, 256×256 RGB).
TARGETS = {
    "cutpaste": 1300,
    "cutpaste-scar": 1300,
    "poisson": 60,
    "texture": 250,
    "memseg": 250,
}
DEFAULT_TARGET = 300
E2E_TARGET = 250  # images per second written by `adsynth generate` with 2 workers

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "cat", "immunohistochemistry")


def photos(size: int) -> list[np.ndarray]:
    out = []
    for name in PHOTOS:
        img = getattr(skimage.data, name)()
        img = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
        out.append(
            np.ascontiguousarray(cv2.resize(img[:, :, :3], (size, size), interpolation=cv2.INTER_AREA))
        )
    return out


def import_modules() -> dict[str, str]:
    """Import each generator module; return {module: error} for those that fail."""
    failed = {}
    from adsynth.synth import generator_modules

    for mod in generator_modules():
        try:
            importlib.import_module(f"adsynth.synth.{mod}")
        except Exception as e:  # report, do not abort the benchmark
            failed[mod] = f"{type(e).__name__}: {e}"
    return failed


# Filled by main(): modules that failed to import. Without failures, generators come from
# create_generator() (which loads the whole registry); with some, straight from what did register.
import_failures: dict[str, str] = {}


def throughput(name: str, images: list[np.ndarray], seconds: float) -> float:
    gen = create_generator(name) if not import_failures else GENERATORS.create(name)
    rng = np.random.default_rng(0)
    pool = ImagePool(images) if gen.needs_pool else None
    contexts = [SynthContext(pool=pool, index=i) if pool is not None else None for i in range(len(images))]
    for i in range(3):  # warm-up (imports, OpenCV/skimage first-call costs)
        gen.synthesize(images[i % len(images)], rng, context=contexts[i % len(images)])
    n, t0 = 0, time.perf_counter()
    while True:
        for i, img in enumerate(images):
            res = gen.synthesize(img, rng, context=contexts[i])
            json.dumps(res.params)  # provenance, as the engine records it
        n += len(images)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return n / elapsed


def normal_dataset(path: Path, size: int, n: int, seed: int = 0) -> Path:
    """Write ``n`` normal size×size RGB images (random crops and flips of the photos) to ``path``."""
    from adsynth.data import DatasetWriter

    rng = np.random.default_rng(seed)
    sources = []
    for name in PHOTOS:
        img = getattr(skimage.data, name)()
        img = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
        sources.append(np.ascontiguousarray(img[:, :, :3]))
    with DatasetWriter(
        path, height=size, width=size, channels=3, seed=seed, settings={"kind": "bench"}
    ) as wr:
        for i in range(n):
            src = sources[i % len(sources)]
            side = int(rng.integers(size // 2, min(src.shape[:2]) + 1))
            y = int(rng.integers(src.shape[0] - side + 1))
            x = int(rng.integers(src.shape[1] - side + 1))
            crop = cv2.resize(src[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            wr.append(np.ascontiguousarray(crop), name=f"train/good/{i:03d}.png")
    return path


def end_to_end(recipes: list[str], size: int, n: int, workers: int) -> int:
    """Print table 2; return the number of recipes below target or failing."""
    from adsynth.synth.engine import generate_dataset

    failures = 0
    print(f"\n`adsynth generate`: {n} normal {size}×{size} RGB images, per_image 1, workers {workers}\n")
    print("| recipe | samples | seconds | img/s | target | result |")
    print("|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        src = normal_dataset(Path(tmp) / "normals.h5", size, n)
        for recipe in recipes:
            out = Path(tmp) / f"{recipe}.h5"
            try:
                t0 = time.perf_counter()
                summary = generate_dataset(
                    recipe, out, input=src, workers=workers, per_image=1, overwrite=True
                )
                elapsed = time.perf_counter() - t0
            except Exception as e:
                print(f"| {recipe} | – | – | – | {E2E_TARGET} | error: {type(e).__name__}: {e} |")
                failures += 1
                continue
            rate = summary.n_written / elapsed
            ok = rate >= E2E_TARGET
            failures += not ok
            print(
                f"| {recipe} | {summary.n_written} | {elapsed:.2f} | {rate:.0f} | {E2E_TARGET} "
                f"| {'pass' if ok else 'FAIL'} |"
            )
    return failures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=2.0, help="time spent per generator")
    ap.add_argument("--pattern", default="*", help="shell pattern of generator names")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (1: one process, one core)")
    ap.add_argument("--recipes", nargs="*", default=["cutpaste", "draem"], help="recipes of table 2")
    ap.add_argument("--workers", type=int, default=2, help="worker processes of table 2")
    ap.add_argument("--e2e-images", type=int, default=256, help="normal images in table 2's dataset")
    ap.add_argument("--skip-e2e", action="store_true", help="only table 1")
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    import_failures.update(import_modules())
    images = photos(args.size)
    print(
        f"{args.size}×{args.size} RGB, {len(images)} photos, {args.seconds:g} s per generator, "
        f"OpenCV threads {args.threads}\n"
    )
    print("| generator | img/s | target | result |")
    print("|---|---:|---:|---|")
    failures = 0
    for name in GENERATORS.list(args.pattern):
        target = TARGETS.get(name, DEFAULT_TARGET)
        try:
            rate = throughput(name, images, args.seconds)
        except Exception as e:
            print(f"| {name} | – | {target} | error: {type(e).__name__}: {e} |")
            failures += 1
            continue
        ok = rate >= target
        failures += not ok
        print(f"| {name} | {rate:.0f} | {target} | {'pass' if ok else 'FAIL'} |")
    for mod, err in import_failures.items():
        print(f"| (module {mod}) | – | – | skipped, import failed: {err} |")
    print(f"\n{failures} generator(s) below target or failing")
    if not args.skip_e2e:
        e2e_failures = end_to_end(args.recipes, args.size, args.e2e_images, args.workers)
        print(f"\n{e2e_failures} recipe(s) below target or failing")


if __name__ == "__main__":
    main()

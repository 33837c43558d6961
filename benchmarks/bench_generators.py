"""Throughput of every registered generator on one process; prints a markdown table.

Each generator is timed through :meth:`Generator.synthesize` (defect, mask and provenance included) on
256×256 RGB images made from scikit-image's bundled photos, cycling over the images with one
``numpy.random.Generator``. Generators that need a pool get the other photos as their pool. A generator
module that cannot be imported is listed with a note instead of failing the run.

Usage:
    python benchmarks/bench_generators.py [--size 256] [--seconds 2] [--pattern "cutpaste*"]
"""

from __future__ import annotations

import argparse
import importlib
import os
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402

from adsynth.synth import GENERATOR_MODULES, GENERATORS, ImagePool, SynthContext, create_generator  # noqa: E402

# Minimum images per second (one process, 256×256 RGB).
TARGETS = {
    "cutpaste": 1300,
    "cutpaste-scar": 1300,
    "poisson": 60,
    "texture": 250,
    "draem": 250,
    "memseg": 250,
}
DEFAULT_TARGET = 300

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
    for mod in GENERATOR_MODULES:
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
            gen.synthesize(img, rng, context=contexts[i])
        n += len(images)
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=2.0, help="time spent per generator")
    ap.add_argument("--pattern", default="*", help="shell pattern of generator names")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads (1: one process, one core)")
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


if __name__ == "__main__":
    main()

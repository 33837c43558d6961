"""Predict throughput of PyTorch vs ONNX Runtime vs OpenVINO on CPU (docs/DEPLOY.md).

    python benchmarks/bench_export.py --size 256 --threads 1 --models padim patchcore draem

Each model is built with its defaults at ``--size`` (the feature methods on the bundled ImageNet
backbone, fitted on a few seeded random images; DRAEM at random initialisation: throughput does not
depend on the weights), exported with ``adsynth.zoo.deploy.export.export_model`` (which checks the outputs
against PyTorch), then timed on the same batch: median of ``--reps`` passes after one warm-up.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from adsynth.zoo import create_model
from adsynth.zoo.checkpoint import make_checkpoint, save_checkpoint
from adsynth.zoo.deploy.export import export_model, load_exported


def _timed(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["padim", "patchcore", "draem"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], metavar="MODEL:KEY=VALUE")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    extra: dict[str, dict] = {}
    for item in args.set:
        model, kv = item.split(":", 1)
        k, v = kv.split("=", 1)
        extra.setdefault(model, {})[k] = int(v) if v.isdigit() else v
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size, generator=gen)
    print("| model | size | batch | runtime | img/s | ms/img | max abs diff (map) |")
    print("|---|---:|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            model = create_model(name, image_size=args.size, channels=3, **extra.get(name, {})).eval()
            if model.fit_mode in ("fit", "both"):
                with torch.no_grad():
                    for _ in range(2):
                        model.fit_batch({"image": torch.rand(4, 3, args.size, args.size, generator=gen)})
                    model.fit_end()
            ckpt = Path(tmp) / f"{name}.pt"
            save_checkpoint(ckpt, make_checkpoint(model))
            runs = {"pytorch": lambda m=model: m.predict(x)}
            diffs = {"pytorch": 0.0}
            for fmt, suffix in (("onnx", ".onnx"), ("openvino", ".xml")):
                r = export_model(ckpt, Path(tmp) / f"{name}{suffix}", fmt=fmt)
                exported = load_exported(r["path"])
                runs[fmt] = lambda e=exported: e.predict(x)
                diffs[fmt] = r["max_abs_error_map"]
            for runtime, fn in runs.items():
                with torch.inference_mode():
                    s = _timed(fn, args.reps)
                ips = args.batch / s
                cells = [name, args.size, args.batch, runtime, f"{ips:.2f}", f"{1000 / ips:.1f}"]
                print("| " + " | ".join(map(str, cells)) + f" | {diffs[runtime]:.2g} |")


if __name__ == "__main__":
    main()

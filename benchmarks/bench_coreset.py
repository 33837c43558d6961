"""PatchCore's coreset selection and nearest-neighbour search: the lazy exact greedy k-center selection
against the plain loop it replaced, on the same features, with 1 and 2 torch threads. Prints a markdown table.

    python benchmarks/bench_coreset.py --features feats.npy        # an N×D float32 array
    python benchmarks/bench_coreset.py                              # seeded synthetic features

Real features: ``--dump-features DATA.h5`` first writes PatchCore's embeddings of the normal training
images of an adsynth dataset with the default model (magnetic tile at 128 px, bundled EfficientNet-Lite0,
layers 2 + 3: 192,512 × 152) to ``--features``.

Coverage = the largest distance from any point to its nearest selected point, in the original
(unprojected) feature space; the target is the plain loop's within 1 %.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from adsynth.zoo import coreset
from adsynth.zoo.coreset import greedy_coreset, nearest_distances


def plain_greedy(features: torch.Tensor, k: int, projection_dim: int, generator: torch.Generator):
    """The loop PatchCore used before (one N×d matrix-vector product and one minimum per step): the dense
    path of :func:`greedy_coreset`, which CUDA tensors take, run here on the CPU on the same projection."""
    x = coreset._project(features, projection_dim, generator)
    start = int(torch.randint(x.shape[0], (1,), generator=generator))
    return coreset._dense_greedy((x - x.mean(0)).contiguous(), k, start)


def coverage(features: torch.Tensor, idx: torch.Tensor) -> float:
    dist, _ = nearest_distances(features, features[idx], k=1)
    return float(dist.max())


def synthetic(n: int, d: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(64, d))
    labels = rng.integers(0, 64, n)
    return torch.from_numpy((centres[labels] + rng.normal(size=(n, d))).astype(np.float32))


def dump_features(data: str, out: str) -> None:
    from adsynth.data.reader import DatasetReader
    from adsynth.zoo import create_model

    ds = DatasetReader(data, split="train", label="normal")
    images = torch.stack([torch.from_numpy(ds.read_image(i)) for i in range(len(ds))]).permute(0, 3, 1, 2)
    model = create_model("patchcore", image_size=images.shape[-1], channels=images.shape[1])
    emb = [model.embed(b.float() / 255).flatten(0, 2) for b in images.split(32)]
    np.save(out, torch.cat(emb).numpy())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", default=None, help="N×D float32 .npy (default: synthetic 20000×152)")
    ap.add_argument("--ratio", type=float, default=0.02)
    ap.add_argument("--projection-dim", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--queries", type=int, default=200 * 256, help="query rows of the NN search")
    ap.add_argument("--dump-features", metavar="DATA.h5", default=None, help="embed this dataset first")
    args = ap.parse_args()
    if args.dump_features:
        dump_features(args.dump_features, args.features)
    feats = (
        torch.from_numpy(np.load(args.features)).float()
        if args.features
        else synthetic(20000, 152, args.seed)
    )
    n = feats.shape[0]
    k = math.ceil(args.ratio * n)
    print(f"features {tuple(feats.shape)}, k = {k} (ratio {args.ratio}), projection {args.projection_dim}\n")
    print("| selection | threads | seconds | ms/step | speed-up vs plain | coverage | vs plain |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, fn in (("plain loop", plain_greedy), ("lazy (adsynth)", greedy_coreset)):
            t0 = time.perf_counter()
            idx = fn(feats, k, args.projection_dim, torch.Generator().manual_seed(args.seed))
            secs = time.perf_counter() - t0
            results[name, threads] = (secs, coverage(feats, idx), idx)
    for threads in (1, 2):
        plain_s, plain_cov, plain_idx = results["plain loop", threads]
        for name in ("plain loop", "lazy (adsynth)"):
            secs, cov, idx = results[name, threads]
            same = (idx == plain_idx).float().mean().item()
            print(
                f"| {name} | {threads} | {secs:.2f} | {1000 * secs / k:.3f} | {plain_s / secs:.1f}× "
                f"| {cov:.4f} | {100 * (cov / plain_cov - 1):+.2f} % ({100 * same:.1f} % same indices) |"
            )
    memory = feats[results["lazy (adsynth)", 1][2]]
    queries = feats[torch.randperm(n, generator=torch.Generator().manual_seed(1))[: args.queries]]
    print(f"\nnearest-neighbour search: {queries.shape[0]} queries against {memory.shape[0]} memory rows\n")
    print("| threads | seconds | queries/s |")
    print("|---:|---:|---:|")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        nearest_distances(queries[:1000], memory)
        t0 = time.perf_counter()
        nearest_distances(queries, memory)
        secs = time.perf_counter() - t0
        print(f"| {threads} | {secs:.3f} | {queries.shape[0] / secs:,.0f} |")


if __name__ == "__main__":
    main()

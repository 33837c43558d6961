"""Tests of the lazy-pool greedy_coreset / nearest_distances (module at /tmp/cs/coreset_lazy_pool.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from adsynth.zoo import coreset as cs


def _brute_greedy(x: np.ndarray, k: int, start: int) -> list[int]:
    x = x.astype(np.float64)
    d = ((x - x[start]) ** 2).sum(1)
    chosen = [start]
    for _ in range(k - 1):
        masked = d.copy()
        masked[chosen] = -1.0  # k distinct indices; ties -> lowest index (np.argmax)
        i = int(np.argmax(masked))
        chosen.append(i)
        d = np.minimum(d, ((x - x[i]) ** 2).sum(1))
    return chosen


def _projected(x: np.ndarray, dim: int | None, seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    t = torch.from_numpy(x).float()
    if dim is not None and dim < x.shape[1]:
        t = t @ (torch.randn(x.shape[1], dim, generator=g) / math.sqrt(dim))
    return t.numpy()


@pytest.fixture(params=[16, 4096])
def pool_size(request, monkeypatch):  # 16: many refills and stale refreshes on small cases
    monkeypatch.setattr(cs, "_POOL_SIZE", request.param)
    return request.param


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dim", [None, 8])
@pytest.mark.parametrize("dups", [False, True])
def test_exactly_brute_force_greedy(seed, dim, dups, pool_size):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(250, 12)).astype(np.float32)
    if dups:
        x = np.concatenate([x, x[:40], x[:15]])
    n = len(x)
    for k in (1, 7, 120, n):
        got = cs.greedy_coreset(torch.from_numpy(x), k, dim, torch.Generator().manual_seed(seed)).tolist()
        assert got == _brute_greedy(_projected(x, dim, seed), k, got[0])
        assert len(set(got)) == k


def test_covering_radius_equals_plain_loop(pool_size):
    rng = np.random.default_rng(5)
    centres = rng.normal(scale=6, size=(30, 40))
    x = np.concatenate([c + rng.normal(size=(rng.integers(20, 200), 40)) for c in centres]).astype(np.float32)
    k = 150
    got = cs.greedy_coreset(torch.from_numpy(x), k, 16, torch.Generator().manual_seed(0)).numpy()
    ref = _brute_greedy(_projected(x, 16, 0), k, int(got[0]))
    radius = cdist(x, x[got]).min(1).max()
    assert radius == pytest.approx(cdist(x, x[ref]).min(1).max(), rel=1e-6)


def test_deterministic():
    x = torch.randn(3000, 30, generator=torch.Generator().manual_seed(0))
    a = cs.greedy_coreset(x, 60, 16, torch.Generator().manual_seed(4))
    b = cs.greedy_coreset(x, 60, 16, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


@pytest.mark.parametrize("k", [0, -1, 11])
def test_k_out_of_range(k):
    with pytest.raises(ValueError):
        cs.greedy_coreset(torch.zeros(10, 3), k)


@pytest.mark.parametrize("k", [1, 3])
def test_nearest_distances_brute_force(k):
    rng = np.random.default_rng(2)
    q, m = rng.normal(size=(300, 32)), rng.normal(size=(500, 32))
    dist, idx = cs.nearest_distances(torch.from_numpy(q), torch.from_numpy(m), k=k)
    ref = cdist(q, m)
    order = np.argsort(ref, axis=1)[:, :k]
    np.testing.assert_array_equal(idx.numpy(), order)
    np.testing.assert_allclose(dist.numpy(), np.take_along_axis(ref, order, 1), rtol=1e-9, atol=1e-9)

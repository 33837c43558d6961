"""benchmarks/map_ensemble.py: members z-scored on their own training maps, resized, combined by name."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from adsynth.data.maps import read_maps, write_maps

_SPEC = importlib.util.spec_from_file_location(
    "map_ensemble", Path(__file__).resolve().parents[2] / "benchmarks" / "map_ensemble.py"
)
map_ensemble = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(map_ensemble)


def _member(tmp_path, name, test_maps, train_maps, names, scale=1.0, shift=0.0):
    test, train = tmp_path / f"{name}-test.h5", tmp_path / f"{name}-train.h5"
    tm = np.asarray(test_maps) * scale + shift
    write_maps(test, tm, tm.reshape(len(tm), -1).max(1), names, np.arange(len(names)))
    rm = np.asarray(train_maps) * scale + shift
    train_names = [f"t{i}" for i in range(len(rm))]
    write_maps(train, rm, rm.reshape(len(rm), -1).max(1), train_names, np.arange(len(rm)))
    return str(test), str(train)


def test_affine_copies_give_the_same_normalised_map(tmp_path):
    rng = np.random.default_rng(0)
    test, train = rng.random((3, 8, 8)), rng.random((5, 8, 8))
    names = ["a", "b", "c"]
    a = _member(tmp_path, "a", test, train, names)
    b = _member(tmp_path, "b", test, train, names, scale=40.0, shift=-7.0)  # another model's units
    out = tmp_path / "ens.h5"
    assert map_ensemble.main(["--member", *a, "--member", *b, "--out", str(out)]) == 0
    mu, sd = train.mean(), train.std()
    with read_maps(out) as ms:
        for i, n in enumerate(names):
            m, _ = ms[n]
            np.testing.assert_allclose(m, (test[i] - mu) / sd, rtol=1e-4, atol=1e-4)


def test_members_of_other_sizes_are_matched_by_name_and_resized(tmp_path):
    rng = np.random.default_rng(1)
    small = rng.random((2, 4, 4))
    a = _member(tmp_path, "a", small, rng.random((3, 4, 4)), ["x", "y"])
    big = np.zeros((2, 8, 8))
    big[1, 2:4, 2:4] = 1.0  # member b flags y only
    b = _member(tmp_path, "b", big[::-1], rng.random((3, 8, 8)) * 0.1, ["y", "x"])  # other order
    out = tmp_path / "ens.h5"
    map_ensemble.main(["--member", *a, "--member", *b, "--combine", "max", "--out", str(out)])
    with read_maps(out) as ms:
        assert ms["x"][0].shape == (8, 8)
        assert ms["y"][0].max() > ms["x"][0].max()


def test_a_sample_missing_from_a_member_is_an_error(tmp_path):
    rng = np.random.default_rng(2)
    a = _member(tmp_path, "a", rng.random((2, 4, 4)), rng.random((2, 4, 4)), ["x", "y"])
    b = _member(tmp_path, "b", rng.random((1, 4, 4)), rng.random((2, 4, 4)), ["x"])
    with pytest.raises(SystemExit):
        map_ensemble.main(["--member", *a, "--member", *b, "--out", str(tmp_path / "e.h5")])
    assert not (tmp_path / "e.h5").exists()

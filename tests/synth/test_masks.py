"""Behaviour of the masking generators: RIAD ``grid`` masks and SCADN ``stripes``."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from adsynth.errors import ConfigError
from adsynth.synth.base import GENERATORS
from adsynth.synth.masks import (
    GridMask,
    StripeMask,
    grid_partition,
    make_riad_masks,
    make_stripe_masks,
    stripe_mask,
)


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(skimage.data.astronaut(), (96, 80), interpolation=cv2.INTER_AREA)


def _runs(line: np.ndarray) -> list[int]:
    """Lengths of the runs of equal values in a 1-D array."""
    change = np.flatnonzero(np.diff(line.astype(np.int8))) + 1
    edges = np.concatenate([[0], change, [line.size]])
    return np.diff(edges).tolist()


def test_registered():
    assert GENERATORS.get("grid") is GridMask and GENERATORS.get("stripes") is StripeMask
    assert not GridMask.mask_is_changed_pixels and not StripeMask.mask_is_changed_pixels


# ------------------------------------------------------------------ RIAD


@pytest.mark.parametrize(
    ("h", "w", "k", "n"), [(64, 64, 2, 3), (64, 64, 16, 3), (50, 70, 8, 3), (32, 48, 4, 5)]
)
def test_riad_masks_partition_the_image_in_aligned_cells(h, w, k, n):
    masks = make_riad_masks(h, w, k, n, np.random.default_rng(0))
    assert masks.shape == (n, h, w) and masks.dtype == bool
    assert (masks.sum(axis=0) == 1).all(), "every pixel must be hidden in exactly one pass"
    part = grid_partition(h, w, k, n, np.random.default_rng(0))
    assert np.array_equal(masks.argmax(axis=0), part)
    # Constant on every k×k cell of the grid anchored at (0, 0), cells cut by the border included.
    for y in range(0, h, k):
        for x in range(0, w, k):
            cell = part[y : y + k, x : x + k]
            assert (cell == cell[0, 0]).all()
    cells_per_set = [int(m[::k, ::k].sum()) for m in masks]
    assert max(cells_per_set) - min(cells_per_set) <= 1


def test_riad_partition_depends_on_rng():
    a = make_riad_masks(64, 64, 4, 3, np.random.default_rng(0))
    b = make_riad_masks(64, 64, 4, 3, np.random.default_rng(1))
    assert not np.array_equal(a, b)


def test_grid_hides_one_recorded_set_with_the_fill(photo):
    gen = GridMask(fill=7)
    seen_k = set()
    for seed in range(40):
        res = gen.synthesize(photo, rng=seed)
        prm = res.params
        seen_k.add(prm["k"])
        assert prm["k"] in (2, 4, 8, 16) and prm["n"] == 3 and 0 <= prm["set"] < 3
        rebuilt = make_riad_masks(80, 96, prm["k"], 3, np.random.default_rng(prm["partition_seed"]))
        assert np.array_equal(res.mask.astype(bool), rebuilt[prm["set"]])
        hidden = res.mask.astype(bool)
        assert (res.image[hidden] == 7).all() and np.array_equal(res.image[~hidden], photo[~hidden])
        assert abs(hidden.mean() - 1 / 3) < 0.12
    assert seen_k == {2, 4, 8, 16}


def test_grid_k_values_and_n_are_honoured(photo):
    res = GridMask(k_values=(8,), n=4).synthesize(photo, rng=0)
    assert res.params["k"] == 8 and res.params["n"] == 4
    assert abs(res.mask.mean() - 0.25) < 0.1


def test_grid_mean_fill(photo):
    res = GridMask(fill="mean").synthesize(photo, rng=0)
    mean = np.rint(photo.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    assert res.params["fill"] == mean.tolist()
    assert (res.image[res.mask.astype(bool)] == mean).all()


def test_grid_mask_is_the_region_even_where_nothing_changed():
    black = np.zeros((32, 32, 3), np.uint8)
    res = GridMask(fill=0).synthesize(black, rng=0)
    assert res.mask.any() and np.array_equal(res.image, black)


def test_grid_cell_larger_than_the_image_still_hides_something():
    res = GridMask(k_values=(64,), n=3).synthesize(np.full((16, 16, 3), 50, np.uint8), rng=0)
    assert res.mask.all() and res.params["set"] == 0


def test_grid_regions_mode(photo):
    gen = GridMask(mode="regions", count=(2, 2), area=(0.02, 0.05), fill=255)
    for seed in range(10):
        res = gen.synthesize(photo, rng=seed)
        assert res.params["mode"] == "regions" and len(res.params["regions"]) == 2
        hidden = res.mask.astype(bool)
        assert 0 < hidden.mean() <= 0.1 + 1e-9
        assert (res.image[hidden] == 255).all() and np.array_equal(res.image[~hidden], photo[~hidden])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k_values": []},
        {"k_values": [0, 4]},
        {"k_values": 4},
        {"n": 0},
        {"fill": 256},
        {"fill": "median"},
        {"fill": True},
        {"mode": "cells"},
        {"count": (3, 1)},
        {"area": (0.0, 2.0)},
        {"shapes": ["star"]},
    ],
)
def test_grid_invalid_parameters(kwargs):
    with pytest.raises(ConfigError, match=f"`{next(iter(kwargs))}"):
        GridMask(**kwargs)


# ------------------------------------------------------------------ SCADN


def test_stripe_bank_matches_scadn_at_512():
    bank = make_stripe_masks(512, 512)
    assert bank.shape == (3, 4, 512, 512)
    for s, width in enumerate((128, 64, 32)):
        v0, v1, h0, h1 = bank[s]
        assert set(_runs(v0[0])) == {width} and v0[:, 0].all() and (v0 == v0[:1]).all()
        assert set(_runs(h0[:, 0])) == {width} and h0[0].all() and (h0 == h0[:, :1]).all()
        assert np.array_equal(v1, ~v0) and np.array_equal(h1, ~h0)
        for m in bank[s]:
            assert m.mean() == 0.5


def test_stripes_draw_is_one_of_the_twelve_masks(photo):
    gen = StripeMask()
    seen = set()
    for seed in range(120):
        res = gen.synthesize(photo, rng=seed)
        prm = res.params
        seen.add((prm["width"], prm["orientation"], prm["phase"]))
        side = 96 if prm["orientation"] == "vertical" else 80
        assert prm["width_px"] == max(1, round(prm["width"] * side))
        expected = stripe_mask(80, 96, prm["width_px"], prm["orientation"], prm["phase"])
        assert np.array_equal(res.mask.astype(bool), expected)
        m = res.mask.astype(bool)
        if prm["orientation"] == "vertical":
            assert (m == m[:1]).all()
            runs = _runs(m[0])
        else:
            assert (m == m[:, :1]).all()
            runs = _runs(m[:, 0])
        assert all(r == prm["width_px"] for r in runs[:-1]) and runs[-1] <= prm["width_px"]
        assert (res.image[m] == 255).all() and np.array_equal(res.image[~m], photo[~m])
    assert len(seen) == 12


def test_stripes_options(photo):
    gen = StripeMask(widths=(0.5,), orientations=("horizontal",), fill=0)
    res = gen.synthesize(photo, rng=0)
    assert res.params["orientation"] == "horizontal" and res.params["width_px"] == 40
    assert res.mask.mean() == 0.5 and (res.image[res.mask.astype(bool)] == 0).all()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"widths": []},
        {"widths": [0.0]},
        {"widths": [1.5]},
        {"widths": "wide"},
        {"orientations": ["diagonal"]},
        {"fill": -1},
    ],
)
def test_stripes_invalid_parameters(kwargs):
    with pytest.raises(ConfigError, match=f"`{next(iter(kwargs))}"):
        StripeMask(**kwargs)

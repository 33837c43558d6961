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


def test_grid_cell_sizes_and_n_are_honoured(photo):
    res = GridMask(cell_sizes=(8,), n=4).synthesize(photo, rng=0)
    assert res.params["k"] == 8 and res.params["n"] == 4
    assert abs(res.mask.mean() - 0.25) < 0.1


def test_grid_mean_fill(photo):
    res = GridMask(fill="mean").synthesize(photo, rng=0)
    mean = np.rint(photo.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    assert res.params["fill"] == mean.tolist()
    assert (res.image[res.mask.astype(bool)] == mean).all()


def test_grid_random_fill_is_one_drawn_colour(photo):
    colours = set()
    for seed in range(5):
        res = GridMask(fill="random").synthesize(photo, rng=seed)
        hidden = res.mask.astype(bool)
        fill = res.params["fill"]
        assert len(fill) == 3 and (res.image[hidden] == np.array(fill, np.uint8)).all()
        assert np.array_equal(res.image[~hidden], photo[~hidden])
        colours.add(tuple(fill))
    assert len(colours) == 5


def test_grid_mask_is_the_region_even_where_nothing_changed():
    black = np.zeros((32, 32, 3), np.uint8)
    res = GridMask(fill=0).synthesize(black, rng=0)
    assert res.mask.any() and np.array_equal(res.image, black)


def test_grid_cell_larger_than_the_image_still_hides_something():
    res = GridMask(cell_sizes=(64,), n=3).synthesize(np.full((16, 16, 3), 50, np.uint8), rng=0)
    assert res.mask.all() and res.params["set"] == 0


def test_grid_region_mode_hides_the_recorded_rectangles(photo):
    gen = GridMask(mode="region", count=(2, 3), scale=(0.1, 0.25), fill=255)
    counts = set()
    for seed in range(20):
        res = gen.synthesize(photo, rng=seed)
        boxes = res.params["boxes"]
        assert res.params["mode"] == "region" and 2 <= len(boxes) <= 3
        counts.add(len(boxes))
        expected = np.zeros((80, 96), bool)
        for y0, x0, y1, x1 in boxes:
            assert 0 <= y0 < y1 <= 80 and 0 <= x0 < x1 <= 96
            assert round(0.1 * 80) <= y1 - y0 <= round(0.25 * 80)
            assert round(0.1 * 96) <= x1 - x0 <= round(0.25 * 96)
            expected[y0:y1, x0:x1] = True
        hidden = res.mask.astype(bool)
        assert np.array_equal(hidden, expected)
        assert (res.image[hidden] == 255).all() and np.array_equal(res.image[~hidden], photo[~hidden])
    assert counts == {2, 3}


def test_grid_region_mode_never_empty():
    res = GridMask(mode="region", scale=(0.0, 0.0)).synthesize(np.zeros((16, 16, 3), np.uint8), rng=0)
    assert res.mask.sum() >= 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cell_sizes": []},
        {"cell_sizes": [0, 4]},
        {"cell_sizes": 4},
        {"n": 0},
        {"fill": 256},
        {"fill": "median"},
        {"fill": True},
        {"mode": "cells"},
        {"count": (3, 1)},
        {"count": (0, 2)},
        {"scale": (0.0, 2.0)},
        {"scale": (0.5, 0.1)},
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


@pytest.mark.parametrize(("h", "w"), [(80, 96), (37, 53)])
def test_stripe_bank_sets_cover_the_image_at_any_size(h, w):
    bank = make_stripe_masks(h, w, (0.25, 0.125, 0.0625))
    assert bank.shape == (3, 4, h, w)
    for s, frac in enumerate((0.25, 0.125, 0.0625)):
        v0, v1, h0, h1 = bank[s]
        # Each direction's two phases partition the image: together they cover it, with no overlap.
        assert (v0 | v1).all() and not (v0 & v1).any()
        assert (h0 | h1).all() and not (h0 & h1).any()
        assert _runs(v0[0])[0] == max(1, round(frac * w)) and _runs(h0[:, 0])[0] == max(1, round(frac * h))


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

"""Behaviour of the ``superpixel`` generator (SMAI-style SLIC superpixel masking)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from adsynth.errors import ConfigError
from adsynth.synth.base import GENERATORS
from adsynth.synth.superpixel import SuperpixelMask, segment_means, slic_segments


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(skimage.data.coffee(), (96, 96), interpolation=cv2.INTER_AREA)


def test_registered():
    assert GENERATORS.get("superpixel") is SuperpixelMask
    assert not SuperpixelMask.mask_is_changed_pixels


@pytest.mark.parametrize("max_side", [None, 40])
def test_slic_segments_are_contiguous_labels(photo, max_side):
    seg = slic_segments(photo, n_segments=30, compactness=10.0, max_side=max_side)
    assert seg.shape == (96, 96) and seg.dtype == np.int32
    labels = np.unique(seg)
    assert np.array_equal(labels, np.arange(labels.size))
    assert 8 <= labels.size <= 60


def test_slic_segments_gray(photo):
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)[:, :, None]
    seg = slic_segments(gray, n_segments=20)
    assert seg.shape == (96, 96) and seg.max() >= 4


def test_mask_is_a_union_of_recorded_segments(photo):
    gen = SuperpixelMask(n_segments=40, fraction=(0.1, 0.3))
    seg = gen.segments(photo)
    for seed in range(10):
        res = gen.synthesize(photo, rng=seed)
        prm = res.params
        assert prm["n_labels"] == int(seg.max()) + 1
        assert 0.1 <= prm["fraction"] <= 0.3
        assert len(prm["segments"]) == max(1, round(prm["fraction"] * prm["n_labels"]))
        assert np.array_equal(res.mask.astype(bool), np.isin(seg, prm["segments"]))
        hidden = res.mask.astype(bool)
        # Every segment is either fully hidden or fully visible.
        per_label = np.bincount(seg.ravel(), weights=hidden.ravel()) / np.bincount(seg.ravel())
        assert set(np.unique(per_label).tolist()) <= {0.0, 1.0}
        assert (res.image[hidden] == 0).all() and np.array_equal(res.image[~hidden], photo[~hidden])


def test_at_least_one_segment_is_hidden(photo):
    res = SuperpixelMask(fraction=(0.0, 0.0)).synthesize(photo, rng=0)
    assert len(res.params["segments"]) == 1 and res.mask.any()


def test_mean_fill_is_each_superpixels_own_mean(photo):
    gen = SuperpixelMask(fill="mean", fraction=(0.3, 0.3))
    res = gen.synthesize(photo, rng=1)
    seg = gen.segments(photo)
    assert res.params["fill"] == "mean" and len(res.params["segments"]) >= 2
    means = segment_means(photo, seg, int(seg.max()) + 1)
    for s in res.params["segments"]:
        region = seg == s
        ref = np.rint(photo[region].mean(axis=0)).astype(np.uint8)
        assert np.array_equal(means[s], ref)
        assert (res.image[region] == ref).all()
    hidden = res.mask.astype(bool)
    assert np.array_equal(res.image[~hidden], photo[~hidden])


def test_constant_and_random_fill(photo):
    res = SuperpixelMask(fill=200).synthesize(photo, rng=2)
    assert res.params["fill"] == [200, 200, 200] and (res.image[res.mask.astype(bool)] == 200).all()
    res = SuperpixelMask(fill="random").synthesize(photo, rng=2)
    fill = np.array(res.params["fill"], np.uint8)
    assert fill.shape == (3,) and (res.image[res.mask.astype(bool)] == fill).all()


def test_count_range_overrides_fraction(photo):
    gen = SuperpixelMask(count=(2, 4), fraction=(0.9, 1.0))
    seg = gen.segments(photo)
    seen = set()
    for seed in range(20):
        res = gen.synthesize(photo, rng=seed)
        k = len(res.params["segments"])
        assert 2 <= k <= 4 and "fraction" not in res.params
        assert np.array_equal(res.mask.astype(bool), np.isin(seg, res.params["segments"]))
        seen.add(k)
    assert seen == {2, 3, 4}


def test_count_is_clipped_to_the_number_of_superpixels(photo):
    gen = SuperpixelMask(n_segments=10, count=(500, 500))
    res = gen.synthesize(photo, rng=0)
    assert len(res.params["segments"]) == res.params["n_labels"] and res.mask.all()


def test_more_segments_gives_smaller_superpixels(photo):
    few = SuperpixelMask(n_segments=10).segments(photo).max() + 1
    many = SuperpixelMask(n_segments=80, slic_size=None).segments(photo).max() + 1
    assert many > 2 * few


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_segments": 0},
        {"compactness": -1.0},
        {"fraction": (0.5, 0.2)},
        {"fill": "median"},
        {"fill": "segment_mean"},
        {"count": (3, 1)},
        {"count": (0, 2)},
        {"slic_size": 0},
        {"max_num_iter": 0},
    ],
)
def test_invalid_parameters(kwargs):
    with pytest.raises(ConfigError, match=f"`{next(iter(kwargs))}"):
        SuperpixelMask(**kwargs)

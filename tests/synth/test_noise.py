"""Behaviour of the ``noise`` generator (noise inside random regions)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data

from adsynth.errors import ConfigError
from adsynth.synth.base import GENERATORS
from adsynth.synth.noise import Noise


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(skimage.data.astronaut(), (96, 96), interpolation=cv2.INTER_AREA)


def _inside_regions(shape: tuple[int, int], regions: list[dict]) -> np.ndarray:
    """Union of discs that contain each recorded region: a rectangle of ``size`` (half-diagonal) or the
    ellipse of the same area (semi-axes ``size / sqrt(pi)``), plus 1.5 px for rasterisation."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    out = np.zeros(shape, bool)
    for r in regions:
        cy, cx = r["center"]
        radius = max(math.hypot(*r["size"]) / 2, max(r["size"]) / math.sqrt(math.pi)) + 1.5
        out |= (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
    return out


def test_registered():
    assert GENERATORS.get("noise") is Noise and Noise.mask_is_changed_pixels


def test_changes_only_pixels_inside_its_regions(photo):
    gen = Noise()
    for seed in range(20):
        res = gen.synthesize(photo, rng=seed)
        regions = res.params["regions"]
        assert 1 <= len(regions) <= 3
        changed = (res.image != photo).any(axis=2)
        assert changed.any() and not (changed & ~_inside_regions(photo.shape[:2], regions)).any()


@pytest.mark.parametrize("kind", ["gaussian", "uniform", "salt_pepper"])
def test_fixed_kind_is_used(photo, kind):
    res = Noise(kinds=(kind,)).synthesize(photo, rng=1)
    assert {r["noise"] for r in res.params["regions"]} == {kind}
    if kind == "salt_pepper":
        hit = res.mask.astype(bool)
        assert set(np.unique(res.image[hit]).tolist()) <= {0, 255}
        assert (res.image[hit].min(axis=1) == res.image[hit].max(axis=1)).all()  # grey salt, grey pepper


def test_random_kind_covers_all_kinds(photo):
    kinds = {r["noise"] for s in range(30) for r in Noise().synthesize(photo, rng=s).params["regions"]}
    assert kinds == {"gaussian", "uniform", "salt_pepper"}


def test_levels_within_their_ranges(photo):
    gen = Noise(sigma=(5.0, 6.0), amplitude=(30.0, 31.0), amount=(0.2, 0.25))
    for seed in range(15):
        for r in gen.synthesize(photo, rng=seed).params["regions"]:
            lo, hi = {"gaussian": (5, 6), "uniform": (30, 31), "salt_pepper": (0.2, 0.25)}[r["noise"]]
            assert lo <= r["level"] <= hi


def test_uniform_noise_amplitude_bounds_the_change():
    gray = np.full((64, 64, 3), 128, np.uint8)
    res = Noise(kinds=("uniform",), amplitude=(10.0, 10.0)).synthesize(gray, rng=0)
    delta = np.abs(res.image.astype(int) - 128)
    assert res.mask.any() and delta.max() <= 10


def test_shared_channel_noise_is_grey():
    gray = np.full((64, 64, 3), 128, np.uint8)
    res = Noise(kinds=("gaussian",), per_channel=False, sigma=(10.0, 10.0)).synthesize(gray, rng=0)
    hit = res.mask.astype(bool)
    assert hit.any() and (res.image[hit].min(axis=1) == res.image[hit].max(axis=1)).all()
    res = Noise(kinds=("gaussian",), per_channel=True, sigma=(10.0, 10.0)).synthesize(gray, rng=0)
    hit = res.mask.astype(bool)
    assert (res.image[hit].min(axis=1) != res.image[hit].max(axis=1)).any()


def test_count_and_area_are_honoured(photo):
    gen = Noise(count=(3, 3), area=(0.01, 0.02), kinds=("gaussian",), sigma=(60.0, 60.0))
    for seed in range(5):
        res = gen.synthesize(photo, rng=seed)
        assert len(res.params["regions"]) == 3
        assert res.mask.mean() <= 3 * 0.02 + 0.01


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kinds": ["pink"]},
        {"kinds": []},
        {"count": (0, 2)},
        {"area": (0.5, 0.1)},
        {"sigma": (-1.0, 5.0)},
        {"shapes": ["star"]},
    ],
)
def test_invalid_parameters(kwargs):
    with pytest.raises(ConfigError, match=f"`{next(iter(kwargs))}"):
        Noise(**kwargs)

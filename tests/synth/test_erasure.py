"""Behaviour of the ``erasure`` generator (random shapes filled with a colour or noise)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from adsynth.errors import ConfigError
from adsynth.synth.base import GENERATORS
from adsynth.synth.erasure import Erasure


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(skimage.data.coffee(), (96, 96), interpolation=cv2.INTER_AREA)


def test_registered():
    assert GENERATORS.get("erasure") is Erasure and Erasure.mask_is_changed_pixels


def test_fixed_fill_colour_is_honoured(photo):
    gen = Erasure(fill=0)
    for seed in range(10):
        res = gen.synthesize(photo, rng=seed)
        hit = res.mask.astype(bool)
        assert hit.any() and (res.image[hit] == 0).all()
        assert np.array_equal(res.image[~hit], photo[~hit])
        assert all(s["fill"] == [0, 0, 0] for s in res.params["shapes"])


def test_random_colours_are_the_recorded_ones(photo):
    res = Erasure(fill="random", count=(3, 3)).synthesize(photo, rng=3)
    colours = {tuple(s["fill"]) for s in res.params["shapes"]}
    assert len(res.params["shapes"]) == 3
    painted = {tuple(v) for v in res.image[res.mask.astype(bool)].tolist()}
    assert painted <= colours


def test_mean_fill(photo):
    res = Erasure(fill="mean").synthesize(photo, rng=0)
    mean = np.rint(photo.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    assert (res.image[res.mask.astype(bool)] == mean).all()


def test_noise_fill_is_varied(photo):
    res = Erasure(fill="noise", area=(0.05, 0.05)).synthesize(photo, rng=0)
    painted = res.image[res.mask.astype(bool)]
    assert painted.std() > 40  # uniform noise over 0..255 has sd ≈ 74


def test_grey_images_get_grey_fills(photo):
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    res = Erasure(fill=255).synthesize(gray, rng=0)
    assert res.image.shape == gray.shape and (res.image[res.mask.astype(bool)] == 255).all()


@pytest.mark.parametrize("shape", ["ellipse", "polygon", "brush"])
def test_each_shape(photo, shape):
    res = Erasure(shapes=(shape,), fill=0).synthesize(photo, rng=5)
    assert {s["kind"] for s in res.params["shapes"]} == {shape}
    assert res.mask.any()


def test_count_and_area_are_honoured(photo):
    gen = Erasure(shapes=("ellipse",), count=(2, 2), area=(0.01, 0.02), fill=0)
    for seed in range(5):
        res = gen.synthesize(photo, rng=seed)
        assert len(res.params["shapes"]) == 2 and res.mask.mean() <= 2 * 0.02 + 0.01


def test_fill_equal_to_the_background_is_not_marked():
    black = np.zeros((64, 64, 3), np.uint8)
    black[:, 32:] = 255
    res = Erasure(fill=0, shapes=("ellipse",)).synthesize(black, rng=0)
    # Only pixels that really changed (white → black) are marked.
    assert res.mask.any() and (black[res.mask.astype(bool)] == 255).all()


@pytest.mark.parametrize(
    "kwargs", [{"fill": 300}, {"fill": "blue"}, {"shapes": ["star"]}, {"count": (2, 1)}, {"area": (0.0, 2.0)}]
)
def test_invalid_parameters(kwargs):
    with pytest.raises(ConfigError, match=f"`{next(iter(kwargs))}"):
        Erasure(**kwargs)

"""Region statistics and the kernel distance, on shapes whose answer is known."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from adsynth.errors import DataError
from adsynth.realism.score import median_sq_distance, mmd2
from adsynth.realism.stats import region_stats, stat_vector


def _canvas(value=180):
    return np.full((64, 64, 1), value, np.uint8)


def test_area_elongation_and_contrast_of_a_dark_bar():
    img, mask = _canvas(), np.zeros((64, 64), np.uint8)
    mask[30:34, 8:56] = 1
    img[mask > 0] = 30
    s = region_stats(img, mask)
    assert s["area"] == pytest.approx(4 * 48 / 64**2)
    assert s["elongation"] > 8
    assert s["contrast"] == pytest.approx(-150.0)
    disc = np.zeros((64, 64), np.uint8)
    cv2.circle(disc, (32, 32), 10, 1, -1)
    assert region_stats(img, disc)["elongation"] == pytest.approx(1.0, abs=0.05)


def test_sharpness_is_higher_for_a_hard_edge_than_a_blurred_one():
    mask = np.zeros((64, 64), np.uint8)
    cv2.circle(mask, (32, 32), 12, 1, -1)
    hard = _canvas()
    hard[mask > 0] = 20
    soft = cv2.GaussianBlur(hard, (0, 0), 3)[:, :, None]
    assert region_stats(hard, mask)["sharpness"] > 2 * region_stats(soft, mask)["sharpness"]


def test_a_colour_image_and_a_one_pixel_line_are_handled():
    img = np.zeros((16, 16, 3), np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    mask[8, 2:14] = 1
    s = region_stats(img, mask)
    assert np.isfinite(list(s.values())).all() and s["contrast"] == 0.0
    assert stat_vector(s).shape == (4,)


def test_an_empty_mask_is_refused():
    with pytest.raises(DataError, match="non-empty"):
        region_stats(_canvas(), np.zeros((64, 64), np.uint8))


def test_mmd_is_near_zero_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    assert abs(mmd2(a, b, (1.0, 4.0))) < 0.1
    far, near = mmd2(a, b + 10, (1.0, 4.0)), mmd2(a, b + 1, (1.0, 4.0))
    assert far > near > 0.1
    assert mmd2(a, b + 4, (1.0,)) == pytest.approx(mmd2(b + 4, a, (1.0,)))
    assert np.isnan(mmd2(a[:0], b, (1.0,)))
    assert np.isfinite(mmd2(a[:1], b, (1.0,)))
    assert median_sq_distance(a[:1]) == 1.0 and median_sq_distance(a) > 0

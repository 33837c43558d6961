"""Behaviour of the seeded Perlin noise and the DRAEM Perlin region."""

from __future__ import annotations

import numpy as np
import pytest

from adsynth.errors import ConfigError
from adsynth.synth.perlin import draw_perlin_params, perlin_2d, perlin_region, rotate_map


def _lag_corr(fields: np.ndarray, lag: int) -> float:
    a, b = fields[:, :, :-lag].ravel(), fields[:, :, lag:].ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_same_rng_same_noise_and_different_seeds_differ():
    a = perlin_2d((64, 64), (4, 8), np.random.default_rng(3))
    b = perlin_2d((64, 64), (4, 8), np.random.default_rng(3))
    c = perlin_2d((64, 64), (4, 8), np.random.default_rng(4))
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_value_range_dtype_and_any_shape():
    for shape, res in [((64, 64), (1, 1)), ((64, 96), (32, 2)), ((50, 37), (3, 5))]:
        n = perlin_2d(shape, res, np.random.default_rng(0))
        assert n.shape == shape and n.dtype == np.float32
        assert -1.0 <= n.min() and n.max() <= 1.0
        assert n.std() > 0.05


def test_zero_on_lattice_points():
    n = perlin_2d((64, 64), (8, 4), np.random.default_rng(1))
    assert np.abs(n[::8, ::16]).max() < 1e-6
    assert np.abs(n[4::8, 8::16]).max() > 0.05  # cell centres are not


def test_statistics_match_noise_package():
    fields = {
        b: np.stack([perlin_2d((128, 128), (8, 8), np.random.default_rng(s), backend=b) for s in range(12)])
        for b in ("numpy", "noise")
    }
    ours, ref = fields["numpy"], fields["noise"]
    for f in (ours, ref):
        assert abs(f.mean()) < 0.03
        assert f.min() >= -1.0 and f.max() <= 1.0
    # Same order of amplitude (DRAEM's √2 scaling vs pnoise2's gradient set differ by a constant factor).
    assert 0.6 < ours.std() / ref.std() < 1.6
    # Same spatial correlation structure at the lattice scale (one cell = 16 px).
    for lag in (2, 4, 8, 16):
        assert abs(_lag_corr(ours, lag) - _lag_corr(ref, lag)) < 0.1, lag
    assert _lag_corr(ours, 2) > 0.85  # smooth within a cell
    assert abs(_lag_corr(ours, 32)) < 0.15  # decorrelated two cells away


def test_noise_backend_is_seeded_by_rng():
    a = perlin_2d((16, 16), (2, 2), np.random.default_rng(5), backend="noise")
    b = perlin_2d((16, 16), (2, 2), np.random.default_rng(5), backend="noise")
    c = perlin_2d((16, 16), (2, 2), np.random.default_rng(6), backend="noise")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_backend_and_res_raise():
    with pytest.raises(ConfigError, match="backend"):
        perlin_2d((8, 8), (1, 1), np.random.default_rng(0), backend="fast")
    with pytest.raises(ConfigError, match="res"):
        perlin_2d((8, 8), (0, 1), np.random.default_rng(0))


def test_draem_params_cover_scales_independently():
    rng = np.random.default_rng(0)
    draws = [draw_perlin_params(rng) for _ in range(400)]
    sx = {d["scale_x"] for d in draws}
    sy = {d["scale_y"] for d in draws}
    assert sx == sy == {1, 2, 4, 8, 16, 32}
    assert any(d["scale_x"] != d["scale_y"] for d in draws)
    angles = np.array([d["angle"] for d in draws])
    assert angles.min() >= -90 and angles.max() <= 90 and angles.std() > 40


def test_draem_region_area_fraction_is_plausible():
    rng = np.random.default_rng(0)
    fractions = []
    for _ in range(150):
        p = draw_perlin_params(rng)
        region = perlin_region(
            (128, 128),
            np.random.default_rng(p["noise_seed"]),
            scale_x=p["scale_x"],
            scale_y=p["scale_y"],
            angle=p["angle"],
        )
        fractions.append(region.mean())
    fractions = np.array(fractions)
    # noise > 0.5 covers a few percent of the image on average; rarely nothing, never most of it.
    assert 0.02 < fractions.mean() < 0.12
    assert (fractions == 0).mean() < 0.15
    assert fractions.max() < 0.5


def test_region_is_thresholded_rotated_noise():
    noise = perlin_2d((64, 64), (2, 4), np.random.default_rng(9))
    region = perlin_region(
        (64, 64), np.random.default_rng(9), scale_x=4, scale_y=2, angle=40.0, threshold=0.3
    )
    assert np.array_equal(region, rotate_map(noise, 40.0) > 0.3)
    flat = perlin_region((64, 64), np.random.default_rng(9), scale_x=4, scale_y=2, angle=0.0, threshold=0.3)
    assert np.array_equal(flat, noise > 0.3)
    # The zero fill of the rotation never counts as anomaly.
    corners = rotate_map(np.ones((64, 64), np.float32), 45.0)
    assert corners[0, 0] == 0.0

"""Behaviour of the ``texture`` (DRAEM) and ``memseg`` generators."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from adsynth.errors import ConfigError
from adsynth.synth.base import GENERATORS, SynthContext
from adsynth.synth.perlin import perlin_region
from adsynth.synth.perlin_texture import (
    AUGMENTATIONS,
    MemSegGenerator,
    PerlinTextureGenerator,
    augment,
    estimate_foreground,
    shuffle_tiles,
)

TEX = (200, 40, 120)


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(skimage.data.astronaut(), (96, 96), interpolation=cv2.INTER_AREA)


@pytest.fixture
def flat_texture_dir(tmp_path, write_png):
    write_png(tmp_path / "flat.png", np.tile(np.array(TEX, np.uint8), (20, 20, 1)))
    return tmp_path


def _region(res, shape):
    p = res.params
    return perlin_region(
        shape,
        np.random.default_rng(p["noise_seed"]),
        scale_x=p["scale_x"],
        scale_y=p["scale_y"],
        angle=p["angle"],
        threshold=p["threshold"],
    )


def test_registered_with_metadata():
    assert GENERATORS.get("texture") is PerlinTextureGenerator
    assert GENERATORS.get("memseg") is MemSegGenerator
    for cls in (PerlinTextureGenerator, MemSegGenerator):
        assert cls.family and cls.paper and cls.description
        assert not cls.needs_pool and cls.mask_is_changed_pixels and not cls.label_only


def test_mask_is_the_rotated_perlin_threshold_region(flat_texture_dir):
    img = np.zeros((64, 80, 3), np.uint8)
    gen = PerlinTextureGenerator(textures=flat_texture_dir, augmentations=0)
    angles = []
    for seed in range(25):
        res = gen.synthesize(img, rng=seed)
        region = _region(res, (64, 80))
        # A flat texture over a black image changes every region pixel (β ≤ 0.8): mask == region.
        assert np.array_equal(res.mask.astype(bool), region)
        assert np.array_equal((res.image != img).any(axis=2), region)
        angles.append(res.params["angle"])
    assert max(angles) > 30 and min(angles) < -30


def test_mask_is_exactly_the_changed_pixels(photo):
    gen = PerlinTextureGenerator()
    for seed in range(20):
        res = gen.synthesize(photo, rng=seed)
        changed = (res.image != photo).any(axis=2)
        assert res.mask.any()
        assert np.array_equal(res.mask.astype(bool), changed)
        assert not (res.mask.astype(bool) & ~_region(res, photo.shape[:2])).any()


def test_blend_formula_inside_the_mask(photo, flat_texture_dir):
    gen = PerlinTextureGenerator(textures=flat_texture_dir, augmentations=0)
    betas = []
    for seed in range(15):
        res = gen.synthesize(photo, rng=seed)
        beta = res.params["beta"]
        betas.append(beta)
        m = res.mask.astype(bool)
        expected = (1 - beta) * np.array(TEX, np.float64) + beta * photo[m].astype(np.float64)
        assert np.abs(res.image[m].astype(np.float64) - expected).max() <= 0.5 + 1e-3
        assert np.array_equal(res.image[~m], photo[~m])
    assert 0.0 <= min(betas) and max(betas) <= 0.8 and max(betas) - min(betas) > 0.2


def test_fixed_beta_is_respected(photo, flat_texture_dir):
    res = PerlinTextureGenerator(textures=flat_texture_dir, augmentations=0, beta=(0.25, 0.25)).synthesize(
        photo, rng=0
    )
    m = res.mask.astype(bool)
    expected = np.rint(0.75 * np.array(TEX) + 0.25 * photo[m].astype(np.float64))
    assert np.abs(res.image[m] - expected).max() <= 1
    assert res.params["beta"] == 0.25


def test_same_seed_same_result_and_params_are_json(photo):
    import json

    gen = PerlinTextureGenerator()
    a, b = gen.synthesize(photo, rng=11), gen.synthesize(photo, rng=11)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert json.loads(json.dumps(a.params)) == a.params
    assert a.sources == [a.params["texture"]]


def test_gray_images_stay_gray(photo):
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    for name in ("texture", "memseg"):
        res = GENERATORS.create(name).synthesize(gray, rng=3)
        assert res.image.shape == gray.shape and res.mask.any()
        assert np.array_equal(res.mask.astype(bool), res.image != gray)


def test_foreground_from_context_keeps_mask_inside(photo):
    fg = np.zeros(photo.shape[:2], np.uint8)
    fg[20:70, 10:60] = 1
    gen = PerlinTextureGenerator(foreground="context")
    for seed in range(20):
        res = gen.synthesize(photo, rng=seed, context=SynthContext(foreground=fg))
        assert res.mask.any()
        assert not (res.mask.astype(bool) & (fg == 0)).any()
        assert res.params["foreground"] == "context"
    # Without the option the defects also land outside.
    outside = [
        PerlinTextureGenerator().synthesize(photo, rng=s, context=SynthContext(foreground=fg))
        for s in range(20)
    ]
    assert any((r.mask.astype(bool) & (fg == 0)).any() for r in outside)


def test_automatic_foreground_estimate():
    img = np.full((80, 80, 3), 20, np.uint8)
    cv2.circle(img, (40, 40), 22, (180, 160, 150), -1)
    disc = np.zeros((80, 80), np.uint8)
    cv2.circle(disc, (40, 40), 22, 1, -1)
    est = estimate_foreground(img)
    assert (est == disc.astype(bool)).mean() > 0.99
    # MemSeg's explicit threshold: dark background, reverse=True keeps the bright pixels.
    assert (estimate_foreground(img, threshold=50, reverse=True) == disc.astype(bool)).mean() > 0.99
    assert (estimate_foreground(img, threshold=50, reverse=False) == ~disc.astype(bool)).mean() > 0.99
    gen = PerlinTextureGenerator(foreground="auto")
    for seed in range(10):
        res = gen.synthesize(img, rng=seed)
        assert res.params["foreground"] == "estimated"
        assert not (res.mask.astype(bool) & ~est).any()


def test_memseg_structure_source_and_opacity(photo):
    gen = MemSegGenerator(structure_prob=1.0)
    res = gen.synthesize(photo, rng=0)
    assert res.params["source"] == "structure" and res.sources == []
    assert sorted(res.params["tile_permutation"]) == list(range(64))
    assert len(res.params["augmentations"]) == 3
    kinds = {MemSegGenerator().synthesize(photo, rng=s).params["source"] for s in range(20)}
    assert kinds == {"structure", "texture"}
    betas = [MemSegGenerator().synthesize(photo, rng=s).params["beta"] for s in range(40)]
    assert max(betas) > 0.8 and max(betas) <= 0.85  # opacity δ = 1 − β ∈ [0.15, 1]
    assert MemSegGenerator().config()["augmentations"] == 0
    assert MemSegGenerator(beta=(0.1, 0.2)).config()["beta"] == [0.1, 0.2]


def test_shuffle_tiles_moves_whole_tiles():
    img = np.arange(8 * 12, dtype=np.uint8).reshape(8, 12, 1)
    out, perm = shuffle_tiles(img, 4, np.random.default_rng(0))
    assert sorted(perm) == list(range(16)) and perm != list(range(16))
    for k, src in enumerate(perm):
        ky, kx, sy, sx = k // 4, k % 4, src // 4, src % 4
        assert np.array_equal(
            out[ky * 2 : ky * 2 + 2, kx * 3 : kx * 3 + 3], img[sy * 2 : sy * 2 + 2, sx * 3 : sx * 3 + 3]
        )


def test_augmentations_each_run_and_are_seeded(photo):
    for name, fn in AUGMENTATIONS.items():
        out, info = fn(photo, np.random.default_rng(0))
        assert out.shape == photo.shape and out.dtype == np.uint8, name
        assert isinstance(info, dict)
    assert np.array_equal(AUGMENTATIONS["invert"](photo, None)[0], 255 - photo)
    a, steps = augment(photo, np.random.default_rng(4), 3)
    b, _ = augment(photo, np.random.default_rng(4), 3)
    assert np.array_equal(a, b) and len({s["op"] for s in steps}) == 3
    same, none = augment(photo, np.random.default_rng(4), 0)
    assert same is photo and none == []


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"threshold": 1.5}, "threshold"),
        ({"beta": (0.9, 0.1)}, "beta"),
        ({"scale_exponents": (0, 12)}, "scale_exponents"),
        ({"augmentations": 11}, "augmentations"),
        ({"foreground": "yes"}, "foreground"),
        ({"builtin": "dtd"}, "builtin"),
        ({"structure_grid": 0}, "structure_grid"),
        ({"textures": 3}, "textures"),
    ],
)
def test_bad_parameters_raise_naming_them(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        PerlinTextureGenerator(**kwargs)


def test_config_round_trips(flat_texture_dir):
    gen = PerlinTextureGenerator(textures=flat_texture_dir, threshold=0.4)
    again = PerlinTextureGenerator(**gen.config())
    assert again.config() == gen.config()
    assert MemSegGenerator(**MemSegGenerator().config()).config() == MemSegGenerator().config()

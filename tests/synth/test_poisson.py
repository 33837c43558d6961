"""Behaviour of the ``poisson`` generator (NSA-style Poisson-blended patches)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import skimage.data

from adsynth.errors import ConfigError
from adsynth.synth.base import GENERATORS, ImagePool, SynthContext
from adsynth.synth.poisson import PoissonPatchGenerator, poisson_paste


def _small(img, size=128):
    img = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def photos():
    return [_small(skimage.data.astronaut()), _small(skimage.data.coffee()), _small(skimage.data.chelsea())]


def _seam(img, box):
    """Mean over the box outline of the largest intensity step in a 3-px band across the edge."""
    y0, x0, y1, x1 = box
    f = img.astype(np.float64).mean(axis=2)
    gy, gx = np.abs(np.diff(f, axis=0)), np.abs(np.diff(f, axis=1))
    top = gy[y0 - 1 : y0 + 2, x0 + 1 : x1 - 1].max(axis=0)
    bottom = gy[y1 - 3 : y1, x0 + 1 : x1 - 1].max(axis=0)
    left = gx[y0 + 1 : y1 - 1, x0 - 1 : x0 + 2].max(axis=1)
    right = gx[y0 + 1 : y1 - 1, x1 - 3 : x1].max(axis=1)
    return float(np.concatenate([top, bottom, left, right]).mean())


def _hard_paste(image, partner, info):
    sy0, sx0, sy1, sx1 = info["src_box"]
    y0, x0, y1, x1 = info["dst_box"]
    patch = cv2.resize(partner[sy0:sy1, sx0:sx1], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    out = image.copy()
    out[y0:y1, x0:x1] = patch
    return out


def test_registered_with_metadata():
    cls = GENERATORS.get("poisson")
    assert cls is PoissonPatchGenerator
    assert cls.needs_pool and cls.mask_is_changed_pixels and not cls.label_only
    assert cls.family and cls.paper and cls.description


def test_patch_comes_from_another_image_never_itself():
    flat = np.full((64, 64, 3), 128, np.uint8)
    textured = _small(skimage.data.astronaut(), 64)
    pool = ImagePool([flat, textured], names=["self.png", "other.png"])
    gen = PoissonPatchGenerator()
    for seed in range(15):
        # A patch of the flat image itself could change nothing; every draw must use the other image.
        res = gen.synthesize(flat, rng=seed, context=SynthContext(pool=pool, index=0))
        assert res.params["partner"] == 1 and not res.params["partner_is_self"]
        assert res.sources == ["other.png"]
        assert res.mask.any()
        assert res.image[res.mask.astype(bool)].std() > 5  # the textured content arrived


def test_blended_content_follows_the_source_patch(photos):
    a, b = photos[0], photos[1]
    pool = ImagePool([a, b])
    res = PoissonPatchGenerator(num_patches=1, width_bounds=((0.15, 0.3), (0.15, 0.3))).synthesize(
        a, rng=2, context=SynthContext(pool=pool, index=0)
    )
    info = res.params["patches"][0]
    hard = _hard_paste(a, b, info)
    y0, x0, y1, x1 = info["dst_box"]
    inner = (slice(y0 + 3, y1 - 3), slice(x0 + 3, x1 - 3))
    lap = lambda x: cv2.Laplacian(x[inner].astype(np.float64).mean(axis=2), cv2.CV_64F)  # noqa: E731
    # Normal cloning keeps the source's second derivatives: the result's detail matches the patch.
    assert np.corrcoef(lap(res.image).ravel(), lap(hard).ravel())[0, 1] > 0.6
    assert np.corrcoef(lap(res.image).ravel(), lap(a).ravel())[0, 1] < 0.3


@pytest.mark.parametrize("mode", ["normal", "mixed"])
def test_no_visible_seam_compared_with_a_hard_paste(photos, mode):
    a, b = photos[0], photos[1]
    pool = ImagePool([a, b])
    gen = PoissonPatchGenerator(num_patches=1, mode=mode, width_bounds=((0.1, 0.3), (0.1, 0.3)))
    for seed in range(6):
        res = gen.synthesize(a, rng=seed, context=SynthContext(pool=pool, index=0))
        info = res.params["patches"][0]
        assert info["mode"] == mode
        box = info["dst_box"]
        blended, hard, original = _seam(res.image, box), _seam(_hard_paste(a, b, info), box), _seam(a, box)
        assert blended < 0.6 * hard, (seed, blended, hard)
        assert blended < 1.3 * original + 2, (seed, blended, original)


def test_several_patches(photos):
    pool = ImagePool(photos)
    gen = PoissonPatchGenerator(
        num_patches=4, extra_patch_prob=1.0, width_bounds=((0.05, 0.15), (0.05, 0.15))
    )
    res = gen.synthesize(photos[0], rng=0, context=SynthContext(pool=pool, index=0))
    patches = res.params["patches"]
    assert len(patches) == 4
    union = np.zeros(photos[0].shape[:2], bool)
    for p in patches:
        y0, x0, y1, x1 = p["dst_box"]
        union[y0:y1, x0:x1] = True
    assert not (res.mask.astype(bool) & ~union).any()
    counts = [
        len(
            PoissonPatchGenerator(num_patches=3)
            .synthesize(photos[0], rng=s, context=SynthContext(pool=pool, index=0))
            .params["patches"]
        )
        for s in range(30)
    ]
    assert set(counts) == {1, 2, 3}  # further patches with p = 0.5
    assert (
        len(
            PoissonPatchGenerator(num_patches=3, extra_patch_prob=0.0)
            .synthesize(photos[0], rng=1, context=SynthContext(pool=pool, index=0))
            .params["patches"]
        )
        == 1
    )


def test_mask_is_changed_pixels_and_nsa_label(photos):
    pool = ImagePool(photos)
    gen = PoissonPatchGenerator(mode="mix")
    for seed in range(10):
        res = gen.synthesize(photos[1], rng=seed, context=SynthContext(pool=pool, index=1))
        changed = (res.image != photos[1]).any(axis=2)
        assert res.mask.any() and np.array_equal(res.mask.astype(bool), changed)
        assert res.params["partner"] != 1
        assert json.loads(json.dumps(res.params)) == res.params


def test_foreground_restriction(photos):
    fg = np.zeros((128, 128), np.uint8)
    fg[16:112, 24:100] = 1
    pool = ImagePool(photos)
    gen = PoissonPatchGenerator(foreground="context")
    for seed in range(10):
        res = gen.synthesize(photos[0], rng=seed, context=SynthContext(pool=pool, index=0, foreground=fg))
        assert res.mask.any() and not (res.mask.astype(bool) & (fg == 0)).any()


def test_poisson_paste_only_touches_the_clone_mask(photos):
    a, b = photos[0], photos[2]
    clone = np.zeros((30, 40), bool)
    clone[5:25, 10:30] = True
    out = poisson_paste(a, b[:30, :40], (20, 30), clone, "normal")
    outside = np.ones(a.shape[:2], bool)
    outside[20 + 5 : 20 + 25, 30 + 10 : 30 + 30] = False
    assert np.array_equal(out[outside], a[outside])
    assert (out[~outside] != a[~outside]).any()


def test_gray_images_and_albumentations_sources(photos):
    import albumentations as A

    gray = cv2.cvtColor(photos[0], cv2.COLOR_RGB2GRAY)
    other = cv2.cvtColor(photos[1], cv2.COLOR_RGB2GRAY)
    res = PoissonPatchGenerator(sources=[other]).synthesize(gray, rng=0)
    assert res.image.shape == gray.shape and np.array_equal(res.mask.astype(bool), res.image != gray)
    out = A.Compose([PoissonPatchGenerator(sources=[photos[1]])])(
        image=photos[0], mask=np.zeros((128, 128), np.uint8)
    )
    assert out["mask"].any() and (out["image"] != photos[0]).any()


def test_seeded(photos):
    pool = ImagePool(photos)
    gen = PoissonPatchGenerator()
    r1 = gen.synthesize(photos[0], rng=5, context=SynthContext(pool=pool, index=0))
    r2 = gen.synthesize(photos[0], rng=5, context=SynthContext(pool=pool, index=0))
    assert np.array_equal(r1.image, r2.image) and r1.params == r2.params


def test_needs_a_pool(photos):
    with pytest.raises(ConfigError, match="pool"):
        PoissonPatchGenerator().synthesize(photos[0], rng=0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"mode": "seamless"}, "mode"),
        ({"num_patches": 0}, "num_patches"),
        ({"width_bounds": ((0.3, 0.1), (0.1, 0.2))}, "width_bounds"),
        ({"width_bounds": 0.2}, "width_bounds"),
        ({"gamma_params": (0, 1, 0)}, "gamma_params"),
        ({"resize_bounds": (2, 1)}, "resize_bounds"),
        ({"foreground": True}, "foreground"),
        ({"extra_patch_prob": 2}, "extra_patch_prob"),
    ],
)
def test_bad_parameters_raise_naming_them(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        PoissonPatchGenerator(**kwargs)


def test_config_round_trips():
    gen = PoissonPatchGenerator(mode="mixed", resize_bounds=(0.5, 2.0), gamma_params=None)
    assert PoissonPatchGenerator(**json.loads(json.dumps(gen.config()))).config() == gen.config()

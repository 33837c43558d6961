"""Behaviour of ``cutpaste``, ``cutpaste-scar`` and ``cutpaste-3way`` (METHODS §2)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data

from adsynth.errors import ConfigError
from adsynth.synth import functional as Fn
from adsynth.synth.base import GENERATORS
from adsynth.synth.cutpaste import CutPaste, CutPaste3Way, CutPasteScar


@pytest.fixture(scope="module")
def photo():
    return cv2.resize(skimage.data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def photo256():
    return cv2.resize(skimage.data.chelsea(), (256, 256), interpolation=cv2.INTER_AREA)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def test_registered_as_three_generators_of_one_family():
    classes = [GENERATORS.get(n) for n in ("cutpaste", "cutpaste-scar", "cutpaste-3way")]
    assert classes == [CutPaste, CutPasteScar, CutPaste3Way]
    assert {c.family for c in classes} == {"cutpaste"}
    assert all(c.mask_is_changed_pixels for c in classes)


def test_cutpaste_area_and_aspect_within_bounds(photo):
    gen = CutPaste()
    h, w = photo.shape[:2]
    for seed in range(60):
        res = gen.synthesize(photo, rng=seed)
        prm = res.params
        ch, cw = prm["size"]
        # Rounding the sides to whole pixels moves the area by at most about half a row and a column.
        slack = (ch + cw) / 2 + 1
        assert 0.02 * h * w - slack <= ch * cw <= 0.15 * h * w + slack
        assert 0.3 - 1e-9 <= prm["aspect"] <= 1 / 0.3 + 1e-9
        assert 0.3 * (1 - 2 / min(ch, cw)) <= cw / ch <= (1 / 0.3) * (1 + 2 / min(ch, cw))
        assert res.label == 1 and prm["variant"] == "cutpaste"
        # The mask lies in the pasted box and, on a photo, covers most of it.
        y0, x0, y1, x1 = _bbox(res.mask)
        dy, dx = prm["to"]
        assert dy <= y0 and dx <= x0 and y1 <= dy + ch and x1 <= dx + cw
        assert res.mask.sum() >= 0.5 * ch * cw


def test_cutpaste_mask_area_tracks_the_area_ratio(photo):
    small = np.mean(
        [CutPaste(area_ratio=(0.02, 0.03)).synthesize(photo, rng=s).mask.mean() for s in range(20)]
    )
    large = np.mean(
        [CutPaste(area_ratio=(0.12, 0.15)).synthesize(photo, rng=s).mask.mean() for s in range(20)]
    )
    assert small <= 0.03 + 0.005 and 0.08 <= large <= 0.15 + 0.005


def test_cutpaste_without_jitter_pastes_the_source_patch(photo):
    gen = CutPaste(color_jitter=0.0)
    for seed in range(10):
        res = gen.synthesize(photo, rng=seed)
        (ch, cw), (sy, sx), (dy, dx) = res.params["size"], res.params["from"], res.params["to"]
        if (sy, sx) == (dy, dx):
            continue
        assert np.array_equal(res.image[dy : dy + ch, dx : dx + cw], photo[sy : sy + ch, sx : sx + cw])
        outside = np.ones(photo.shape[:2], bool)
        outside[dy : dy + ch, dx : dx + cw] = False
        assert np.array_equal(res.image[outside], photo[outside])


def test_color_jitter_factors_within_strength(photo):
    rgb = CutPaste().synthesize(photo, rng=4).params["jitter"]
    assert set(rgb) >= {"brightness", "contrast", "saturation", "hue", "order"}
    for k in ("brightness", "contrast", "saturation"):
        assert 0.9 <= rgb[k] <= 1.1
    assert -0.1 <= rgb["hue"] <= 0.1
    gray = CutPaste().synthesize(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), rng=4).params["jitter"]
    assert "saturation" not in gray and "hue" not in gray


def test_color_jitter_brightness_scales_the_patch():
    patch = np.full((4, 4, 3), 100, np.uint8)
    out, info = Fn.color_jitter(patch, np.random.default_rng(0), (0.5, 0.0, 0.0, 0.0))
    assert np.abs(out.astype(int) - np.rint(100 * info["brightness"])).max() <= 1


def test_scar_size_and_rotation_within_paper_bounds(photo256):
    gen = CutPasteScar()
    angles = []
    for seed in range(60):
        res = gen.synthesize(photo256, rng=seed)
        prm = res.params
        h, w = prm["size"]
        assert 2 <= w <= 16 and 10 <= h <= 25
        assert -45 <= prm["angle"] <= 45
        angles.append(prm["angle"])
        assert res.label == 1 and prm["variant"] == "scar"
        # The pasted support is the rotated w×h rectangle: its box has the rotated extent.
        dy, dx, bh, bw = prm["box"]
        a = math.radians(prm["angle"])
        assert abs(bw - (w * abs(math.cos(a)) + h * abs(math.sin(a)))) <= 2
        assert abs(bh - (w * abs(math.sin(a)) + h * abs(math.cos(a)))) <= 2
        y0, x0, y1, x1 = _bbox(res.mask)
        assert dy <= y0 and dx <= x0 and y1 <= dy + bh and x1 <= dx + bw
        assert res.mask.sum() <= w * h + 2 * (w + h)
    assert min(angles) < -20 and max(angles) > 20


def test_scar_rotation_is_honoured_by_the_mask(photo256):
    gen = CutPasteScar(scar_width=(4, 4), scar_height=(24, 24), rotation=(40, 40), color_jitter=0.0)
    res = gen.synthesize(photo256, rng=0)
    pts = np.argwhere(res.mask)[:, ::-1].astype(np.float32)
    (_, _), (rw, rh), ang = cv2.minAreaRect(pts)
    long_axis = ang if rw >= rh else ang - 90  # direction of the long side, in OpenCV's convention
    # A 24-px scar turned 40° counter-clockwise leans 40° off the vertical.
    tilt = (long_axis % 180) - 90
    assert abs(abs(tilt) - 40) <= 6


def test_scar_without_rotation_is_an_upright_strip(photo256):
    gen = CutPasteScar(scar_width=(6, 6), scar_height=(20, 20), rotation=(0, 0), color_jitter=0.0)
    res = gen.synthesize(photo256, rng=1)
    (sy, sx), (dy, dx) = res.params["from"], res.params["to"]
    assert np.array_equal(res.image[dy : dy + 20, dx : dx + 6], photo256[sy : sy + 20, sx : sx + 6])
    y0, x0, y1, x1 = _bbox(res.mask)
    assert y1 - y0 <= 20 and x1 - x0 <= 6


def test_three_way_labels_are_balanced_and_match_the_variant(photo):
    gen = CutPaste3Way()
    labels = []
    for seed in range(300):
        res = gen.synthesize(photo, rng=seed)
        assert res.label == (1 if res.params["variant"] == "cutpaste" else 2)
        labels.append(res.label)
    share = np.mean(np.array(labels) == 2)
    assert set(labels) == {1, 2} and 0.4 <= share <= 0.6  # 300 draws: sd 0.029


def test_featureless_image_still_gets_a_defect():
    flat = np.full((64, 64, 3), 90, np.uint8)
    for name in ("cutpaste", "cutpaste-scar", "cutpaste-3way"):
        res = GENERATORS.create(name).synthesize(flat, rng=0)
        assert res.mask.any() and np.array_equal(res.mask.astype(bool), (res.image != flat).any(axis=2))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"area_ratio": (0.2, 0.1)},
        {"area_ratio": "big"},
        {"aspect_ratio": 2.0},
        {"scar_width": (0, -1)},
        {"rotation": (-400, 0)},
        {"color_jitter": -0.1},
    ],
)
def test_invalid_parameters(kwargs):
    with pytest.raises(ConfigError, match=f"`{next(iter(kwargs))}"):
        CutPaste(**kwargs)

"""Metrics against independent references: scikit-learn, a plain-loop PRO, the METHODS §7.2 vectors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from adsynth.errors import ConfigError, DataError
from adsynth.evaluate import pro
from adsynth.evaluate.metrics import (
    ImageAccumulator,
    PixelAccumulator,
    Undefined,
    aupro,
    auroc,
    average_precision,
    combine_pixel_metrics,
    f1_max,
    pixel_metrics,
    pro_curve,
    roc_curve,
)

# ------------------------------------------------------------------ plain-loop PRO reference


def loop_aupro(maps, masks, limit):
    """Threshold by threshold over every distinct score, per region overlap; trapezoid + interpolation."""
    maps = [np.asarray(m, dtype=np.float32) for m in maps]
    regions, ok = [], []
    for amap, mask in zip(maps, masks, strict=True):
        lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
        for r in range(1, n + 1):
            regions.append(amap[lab == r])
        ok.append(amap[lab == 0])
    ok = np.concatenate(ok)
    thresholds = sorted(set(np.concatenate([m.ravel() for m in maps]).tolist()), reverse=True)
    xs, ys = [0.0], [0.0]
    for t in thresholds:
        xs.append(float(np.mean(ok >= t)))
        ys.append(float(np.mean([np.mean(r >= t) for r in regions])))
    xs.append(1.0)
    ys.append(1.0)
    area = 0.0
    for i in range(len(xs) - 1):
        x0, x1, y0, y1 = xs[i], xs[i + 1], ys[i], ys[i + 1]
        if x0 >= limit:
            break
        if x1 > limit:
            y1 = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
            x1 = limit
        area += 0.5 * (y0 + y1) * (x1 - x0)
    return area / limit


def random_case(rng, n_images, size, levels, p_defect):
    maps, masks = [], []
    for _ in range(n_images):
        h, w = size, size + int(rng.integers(0, 3))
        maps.append(rng.integers(0, levels, (h, w)).astype(np.float32) / levels)
        masks.append((rng.random((h, w)) < p_defect).astype(np.uint8))
    return maps, masks


@pytest.mark.parametrize("seed", range(40))
def test_aupro_matches_plain_loop_on_tiny_cases(seed):
    rng = np.random.default_rng(seed)
    levels = int(rng.choice([3, 5, 20, 1000]))  # few levels = heavy ties
    maps, masks = random_case(rng, int(rng.integers(1, 4)), int(rng.integers(3, 7)), levels, 0.25)
    masks.append(np.zeros_like(masks[0]))  # an image with no defect
    maps.append(rng.random(masks[-1].shape).astype(np.float32))
    if not any(m.any() for m in masks):
        masks[0][0, 0] = 1
    for limit in (0.05, 0.3, 0.77, 1.0):
        assert aupro(maps, masks, limit) == pytest.approx(loop_aupro(maps, masks, limit), abs=1e-9)


def test_diagonal_touch_is_one_region():
    mask = np.zeros((4, 4), np.uint8)
    mask[0, 0] = mask[1, 1] = 1  # touching diagonally: one 8-connected region
    amap = np.zeros((4, 4), np.float32)
    amap[0, 0] = 1.0  # covers half the region
    acc = PixelAccumulator()
    acc.update([amap], [mask])
    assert acc.summary().n_regions == 1
    # at fpr 0 the single region is half covered; then 0.5 -> 1 as all pixels are taken
    assert aupro([amap], [mask], 1.0) == pytest.approx(loop_aupro([amap], [mask], 1.0))
    assert aupro([amap], [mask], 1.0) == pytest.approx(0.5 + 0.5 * 0.5)


def test_single_pixel_regions_weigh_like_big_ones():
    amap = np.zeros((6, 6), np.float32)
    mask = np.zeros((6, 6), np.uint8)
    mask[0, 0] = 1  # one-pixel region, found
    amap[0, 0] = 1.0
    mask[3:6, 3:6] = 1  # nine-pixel region, missed
    assert aupro([amap], [mask], 0.3) == pytest.approx(loop_aupro([amap], [mask], 0.3))
    assert aupro([amap], [mask], 0.3) == pytest.approx(0.5, abs=0.2)


# ------------------------------------------------------------------ METHODS §7.2 test vectors


def _hand_case():
    a = np.array([[0.9, 0.8, 0.7, 0], [0.2, 0, 0.5, 0], [0, 0, 0.6, 0.1], [0.3, 0, 0, 0.4]])
    ga = np.zeros((4, 4), np.uint8)
    ga[0, 0] = ga[0, 1] = ga[1, 0] = 1
    ga[2, 2] = ga[2, 3] = 1
    b = np.full((4, 4), 0.05)
    b[0, 0] = 0.75
    return [a, b], [ga, np.zeros((4, 4), np.uint8)]


@pytest.mark.parametrize("limit, expected", [(0.3, 0.681070), (0.1, 0.398148), (1.0, 0.904321)])
def test_vector_hand_checkable(limit, expected):
    maps, masks = _hand_case()
    assert aupro(maps, masks, limit) == pytest.approx(expected, abs=1e-6)


def test_vector_hand_checkable_curve():
    fpr, pro = pro_curve(*_hand_case())
    want_fpr = [0, 0, 0, 0.03704, 0.07407, 0.07407, 0.11111, 0.14815, 0.18519, 0.18519, 0.18519]
    want_fpr += [0.74074, 1, 1]
    want_pro = [0, 0.16667, 0.33333, 0.33333, 0.33333, 0.58333, 0.58333, 0.58333, 0.58333, 0.75, 1]
    want_pro += [1, 1, 1]
    # our curve drops collinear points on vertical runs: every official vertex must lie on it
    for x, y in zip(want_fpr, want_pro, strict=True):
        on = np.isclose(fpr, x, atol=1e-5)
        assert on.any()
        assert pro[on].min() - 1e-5 <= y <= pro[on].max() + 1e-5


@pytest.mark.parametrize("columns", [[3], [1, 3, 5]])
def test_vector_anomalib_columns(columns):
    amap = (np.arange(2800) / 2800).reshape(400, 7)
    gt = np.zeros((400, 7), np.uint8)
    gt[:, columns] = 1
    assert aupro([amap], [gt], 1 / 3) == pytest.approx(1 / 6, abs=2e-6)


@pytest.mark.slow
def test_vector_official_toy_dataset():
    np.random.seed(1338)  # the official toy data use the global NumPy generator
    maps, masks = [], []
    for _ in range(200):
        maps.append(np.random.random((300, 500)))
        gt = np.zeros((300, 500), np.uint8)
        gt[:10, :10] = 1
        masks.append(gt)
    acc = PixelAccumulator()
    acc.update(maps, masks)
    summary = acc.summary()
    for limit, expected in ((0.3, 0.151019), (0.05, 0.024867), (1.0, 0.500018)):
        assert combine_pixel_metrics([summary], limit)["aupro"] == pytest.approx(expected, abs=1e-6)


# ------------------------------------------------------------------ AUROC / AP / F1 vs scikit-learn


def _sk_f1_max(y, s):
    p, r, _ = precision_recall_curve(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return f1.max()


@pytest.mark.parametrize("seed", range(60))
def test_scalar_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 200))
    levels = int(rng.choice([2, 3, 10, 10**6]))
    s = rng.integers(0, levels, n) / levels + (rng.random() < 0.3) * rng.normal(0, 1, n)
    y = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(int)
    if y.min() == y.max():
        y[0] = 1 - y[0]
    assert auroc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert average_precision(s, y) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert f1_max(s, y) == pytest.approx(_sk_f1_max(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_pixel_metrics_match_sklearn(seed):
    rng = np.random.default_rng(100 + seed)
    maps, masks = random_case(rng, 3, 8, int(rng.choice([4, 50, 10**6])), 0.1)
    masks[0][0, 0] = 1
    y = np.concatenate([m.ravel() for m in masks])
    s = np.concatenate([m.ravel() for m in maps])
    got = pixel_metrics(maps, masks)
    assert got["pixel_auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert got["pixel_ap"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert got["pixel_f1_max"] == pytest.approx(_sk_f1_max(y, s), abs=1e-12)
    assert got["aupro"] == pytest.approx(loop_aupro(maps, masks, 0.3), abs=1e-9)


def test_roc_curve_matches_auroc():
    rng = np.random.default_rng(3)
    s, y = rng.integers(0, 5, 50), rng.integers(0, 2, 50)
    fpr, tpr, _ = roc_curve(s, y)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(s, y))


# ------------------------------------------------------------------ accumulators, resizing, undefined


def test_accumulators_equal_one_shot():
    rng = np.random.default_rng(7)
    maps, masks = random_case(rng, 9, 16, 30, 0.05)
    one_shot = pixel_metrics(maps, masks, 0.3)
    acc = PixelAccumulator(limit=0.3)
    for i in range(0, 9, 4):
        acc.update(maps[i : i + 4], masks[i : i + 4])
    assert acc.compute() == pytest.approx(one_shot, abs=1e-12)
    # several summaries combined = one accumulator over everything
    parts = []
    for i in range(3):
        a = PixelAccumulator()
        a.update(maps[3 * i : 3 * i + 3], masks[3 * i : 3 * i + 3])
        parts.append(a.summary())
    assert combine_pixel_metrics(parts, 0.3) == pytest.approx(one_shot, abs=1e-12)

    scores, labels = rng.random(40), rng.integers(0, 2, 40)
    img = ImageAccumulator()
    img.update(scores[:15], labels[:15])
    img.update(scores[15:], labels[15:])
    assert img.compute()["image_auroc"] == pytest.approx(auroc(scores, labels))
    assert img.compute()["image_f1_max"] == pytest.approx(f1_max(scores, labels))


def test_kth_largest_across_groups_with_ties():
    rng = np.random.default_rng(0)
    arrays = [np.sort(rng.integers(-5, 5, n).astype(np.float32) / 3) for n in (10, 0, 7, 30)]
    flat = np.sort(np.concatenate(arrays))[::-1]
    for k in range(1, flat.size + 1):
        assert pro._kth_largest(arrays, k) == flat[k - 1]


def test_blocks_give_the_same_area(monkeypatch):
    rng = np.random.default_rng(11)
    maps, masks = random_case(rng, 4, 12, 40, 0.1)
    want = aupro(maps, masks, 0.4)
    monkeypatch.setattr(pro, "_BLOCK", 7)  # many blocks, runs of ties across block edges
    assert aupro(maps, masks, 0.4) == pytest.approx(want, abs=1e-12)
    assert aupro(maps, masks, 0.4) == pytest.approx(loop_aupro(maps, masks, 0.4), abs=1e-9)


def test_map_resized_to_mask_not_mask_to_map():
    amap = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    mask = np.zeros((8, 8), np.uint8)
    mask[:, 6:] = 1
    got = pixel_metrics([amap], [mask])
    import cv2

    big = cv2.resize(amap, (8, 8), interpolation=cv2.INTER_LINEAR)
    assert got["pixel_auroc"] == pytest.approx(roc_auc_score(mask.ravel(), big.ravel()))


def test_undefined_metrics():
    amap = np.random.default_rng(0).random((4, 4))
    none = pixel_metrics([amap], [np.zeros((4, 4), np.uint8)])
    assert all(isinstance(v, Undefined) for v in none.values())
    assert "no defect pixels" in none["aupro"].reason
    full = pixel_metrics([amap], [np.ones((4, 4), np.uint8)])
    assert isinstance(full["aupro"], Undefined) and isinstance(full["pixel_auroc"], Undefined)
    assert isinstance(full["pixel_ap"], float)
    assert isinstance(auroc([0.1, 0.2], [1, 1]), Undefined)
    assert np.isnan(float(auroc([0.1, 0.2], [0, 0])))


def test_bad_inputs():
    with pytest.raises(DataError, match="NaN"):
        pixel_metrics([np.full((2, 2), np.nan)], [np.zeros((2, 2), np.uint8)])
    with pytest.raises(DataError, match="binary"):
        pixel_metrics([np.zeros((2, 2))], [np.full((2, 2), 255, np.uint8)])
    with pytest.raises(DataError, match="as many"):
        pixel_metrics([np.zeros((2, 2))], [])
    with pytest.raises(ConfigError):
        aupro([np.zeros((2, 2))], [np.eye(2, dtype=np.uint8)], limit=0)


@pytest.mark.parametrize("limit", [0.01, 0.05, 0.3, 1.0])
@pytest.mark.parametrize("levels", [4, 256, None])
def test_aupro_partial_sort_equals_the_fully_sorted_summary(limit, levels):
    """aupro() sorts only the defect-free scores at or above the cut (ties included); the value must
    equal the one computed from the fully sorted summary, also with heavy ties at the cut."""
    rng = np.random.default_rng(7)
    masks = np.zeros((6, 40, 40), np.uint8)
    masks[1, 5:15, 5:12] = 1
    masks[2, 20:30, 22:38] = 1
    masks[4, 0:3, 0:40] = 1
    maps = rng.random((6, 40, 40)) + 0.3 * rng.random((6, 40, 40)) * masks
    if levels is not None:  # quantised after the shift: defect and defect-free pixels share values
        maps = np.floor(maps * levels) / levels
    maps = maps.astype(np.float32)
    assert aupro(maps, masks, limit) == pytest.approx(pixel_metrics(maps, masks, limit)["aupro"], abs=1e-12)

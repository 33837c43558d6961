"""Per-defect-type protocol, undefined reporting, bad input messages, files written."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from adsynth.errors import DataError, OutputExistsError
from adsynth.evaluate.metrics import Undefined, pixel_metrics
from adsynth.evaluate.report import MapSample, evaluate, format_markdown, write_report


def _sample(name, value, label, dtype, defect=False, size=8):
    amap = np.full((size, size), 0.1, np.float32)
    mask = np.zeros((size, size), np.uint8)
    if defect:
        mask[2:4, 2:4] = 1
        amap[2:4, 2:4] = value
    else:
        amap[0, 0] = value
    return MapSample(name, amap, mask, label, dtype)


@pytest.fixture
def samples():
    # normal maxima 0.2, 0.4; crack 0.9 / 0.3; hole 0.5 / 0.6
    return [
        _sample("good/0", 0.2, 0, "good"),
        _sample("good/1", 0.4, 0, "good"),
        _sample("crack/0", 0.9, 1, "crack", True),
        _sample("crack/1", 0.3, 1, "crack", True),
        _sample("hole/0", 0.5, 1, "hole", True),
        _sample("hole/1", 0.6, 1, "hole", True),
    ]


def test_per_type_protocol_by_hand(samples):
    rep = evaluate(samples)
    assert list(rep.rows) == ["crack", "hole", "all"]
    # crack vs the two normal images: 0.9 beats both, 0.3 beats 0.2 only -> 3/4
    assert rep.rows["crack"]["image_auroc"] == pytest.approx(0.75)
    assert rep.rows["hole"]["image_auroc"] == pytest.approx(1.0)
    assert rep.rows["all"]["image_auroc"] == pytest.approx(7 / 8)
    assert rep.counts["crack"] == {"n_normal": 2, "n_anomalous": 2, "n_regions": 2, "n_pixels": 256}
    # each row's pixel metrics = one-shot metrics on normal + that type's images
    for row, names in {"crack": ("good", "crack"), "hole": ("good", "hole")}.items():
        chosen = [s for s in samples if s.defect_type in names]
        want = pixel_metrics([s.anomaly_map for s in chosen], [s.mask for s in chosen])
        for key, value in want.items():
            assert rep.rows[row][key] == pytest.approx(value, abs=1e-12)
    y = np.concatenate([s.mask.ravel() for s in samples])
    p = np.concatenate([s.anomaly_map.ravel() for s in samples])
    assert rep.rows["all"]["pixel_auroc"] == pytest.approx(roc_auc_score(y, p))
    assert [r.score for r in rep.per_image] == pytest.approx([0.2, 0.4, 0.9, 0.3, 0.5, 0.6])


def test_model_score_and_sort_by(samples):
    samples[3].score = 0.95  # crack/1 given a model score: crack becomes perfect
    rep = evaluate(samples, sort_by="image_auroc")
    assert rep.rows["crack"]["image_auroc"] == 1.0
    samples[3].score = float("nan")  # NaN = no model score -> map max
    rep = evaluate(samples, sort_by="image_auroc")
    assert list(rep.rows) == ["hole", "crack", "all"]


def test_mappings_accepted(samples):
    dicts = [vars(s) for s in samples]
    assert evaluate(dicts).rows["crack"]["image_auroc"] == pytest.approx(0.75)


def test_undefined_reported_not_invented(samples):
    only_normal = evaluate(samples[:2])
    assert list(only_normal.rows) == ["all"]
    assert isinstance(only_normal.rows["all"]["image_auroc"], Undefined)
    assert "no anomalous images" in only_normal.rows["all"]["image_auroc"].reason
    no_normal = evaluate(samples[2:])
    assert "no normal images" in no_normal.rows["crack"]["image_auroc"].reason
    assert isinstance(no_normal.rows["crack"]["aupro"], float)
    logical = samples[:2] + [MapSample("logic/0", np.zeros((8, 8)), None, 1, "logic")]
    rep = evaluate(logical)
    assert rep.rows["logic"]["image_auroc"] == 0.0
    assert "no defect pixels" in rep.rows["logic"]["aupro"].reason


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: setattr(s, "anomaly_map", np.full((8, 8), np.inf)), "'crack/0'.*NaN or inf"),
        (lambda s: setattr(s, "mask", s.mask * 255), "'crack/0'.*binary.*255"),
        (lambda s: setattr(s, "label", -1), "'crack/0'.*label"),
        (lambda s: setattr(s, "name", "good/0"), "duplicate"),
    ],
)
def test_bad_input_names_the_sample(samples, change, message):
    change(samples[2])
    with pytest.raises(DataError, match=message):
        evaluate(samples)


def test_normal_with_defect_pixels_rejected(samples):
    samples[0].mask[0, 0] = 1
    with pytest.raises(DataError, match="'good/0'.*normal"):
        evaluate(samples)
    with pytest.raises(DataError, match="no samples"):
        evaluate([])


def test_write_report_files(samples, tmp_path):
    rep = evaluate(samples, n_overlays=1)
    out = tmp_path / "report"
    got = write_report(rep, out, get_image=lambda name: np.full((16, 16, 3), 128, np.uint8))
    names = {p.relative_to(out).as_posix() for p in got}
    for f in ("metrics.md", "metrics.csv", "metrics.json", "per_image.csv", "roc.png", "pro.png"):
        assert f in names and (out / f).stat().st_size > 0
    assert any(n.startswith("overlays/best_") for n in names)
    assert any(n.startswith("overlays/worst_") for n in names)
    data = json.loads((out / "metrics.json").read_text())
    assert data["rows"][0]["defect_type"] == "crack"
    assert data["rows"][0]["metrics"]["image_auroc"] == pytest.approx(0.75)
    assert not list(out.glob(".*.tmp"))
    mask = os.umask(0o022)
    os.umask(mask)
    for p in got:  # the umask's permissions, not mkstemp's 0600
        assert p.stat().st_mode & 0o777 == 0o666 & ~mask, p
    with pytest.raises(OutputExistsError):
        write_report(rep, out)
    write_report(evaluate(samples[:2]), out, overwrite=True)
    data = json.loads((out / "metrics.json").read_text())
    assert data["rows"][0]["metrics"]["image_auroc"] is None
    assert "no anomalous images" in data["rows"][0]["undefined"]["image_auroc"]
    assert "n/a" in (out / "metrics.md").read_text()


def test_maps_of_another_aspect_ratio_are_an_error_same_ratio_is_noted():
    mask = np.zeros((128, 128), np.uint8)
    mask[10:20, 10:20] = 1
    wide = MapSample("crack/0", np.zeros((64, 96), np.float32), mask, 1, "crack", 0.5)
    normal = MapSample(
        "good/0", np.zeros((128, 128), np.float32), np.zeros((128, 128), np.uint8), 0, "good", 0.1
    )
    with pytest.raises(DataError, match=r"'crack/0'.*64×96.*128×128.*aspect ratio"):
        evaluate([normal, wide])
    half = MapSample("crack/0", np.zeros((64, 64), np.float32), mask, 1, "crack", 0.5)
    rep = evaluate([normal, half])
    assert rep.notes == ["1 of 2 anomaly maps were 64×64, resized (bilinear) to their masks' size"]
    assert "resized (bilinear)" in format_markdown(rep)
    assert rep.to_dict()["notes"] == rep.notes


def test_missing_image_scores_are_counted(samples):
    rep = evaluate(samples)  # no scores given: the map maximum is used, and said
    assert rep.notes == [
        "6 of 6 samples had no image score (NaN or none given): the maximum of the anomaly map was used"
    ]
    scored = [
        MapSample(s.name, s.anomaly_map, s.mask, s.label, s.defect_type, float(i))
        for i, s in enumerate(samples)
    ]
    scored[0] = MapSample(scored[0].name, scored[0].anomaly_map, scored[0].mask, 0, "good", float("nan"))
    assert evaluate(scored).notes == [
        "1 of 6 samples had no image score (NaN or none given): the maximum of the anomaly map was used"
    ]


def test_overlay_has_a_scale_bar_with_the_score_and_a_caption():
    from adsynth.evaluate import plots

    amap = np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    mask = np.zeros((64, 64), np.uint8)
    plain = plots.overlay(None, amap, mask, 0.0, 1.0)
    marked = plots.overlay(
        None, amap, mask, 0.0, 1.0, caption="crack/0 | crack (label 1) | score 0.5", score=0.5
    )
    assert plain.shape[1] >= 160 and plain.shape[0] > plain.shape[1]  # enlarged, bar underneath
    assert marked.shape[0] > plain.shape[0]  # a caption line
    bar = marked[plain.shape[1] : plain.shape[1] + 10]
    x = bar.shape[1] // 2
    assert (bar[:, x] == 0).all()  # the score's tick
    assert not (plain[plain.shape[1] : plain.shape[1] + 10, x] == 0).all()


def test_perfect_roc_curves_stay_visible(monkeypatch):
    from adsynth.evaluate import plots

    seen = {}
    monkeypatch.setattr(plots, "_figure_png", lambda fig: seen.setdefault("fig", fig) and b"")
    perfect = (np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0]))
    plots.roc_figure({"a": perfect, "b": perfect, "all": perfect}, {"a": 1.0, "b": 1.0, "all": 1.0})
    ax = seen["fig"].axes[0]
    assert ax.get_xlim()[0] < 0 and ax.get_ylim()[1] > 1  # not on the frame
    widths = [line.get_linewidth() for line in ax.get_lines()[:3]]
    assert len(set(widths)) == 3  # coinciding curves drawn as nested strokes

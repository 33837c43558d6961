"""The letterbox padding of a ``--resize pad`` import is left out of every pixel metric (issue 28, item 11).

Tall 48×24 photos imported at 32×32 with ``--resize pad`` fill the middle 16 columns; the maps are 0 on
the black bars, as a model's maps are there. Counted as defect-free pixels, the bars raise the pixel
AUROC (every defect pixel beats them); left out, the metrics are those of the photos alone.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from adsynth.cli.main import cli
from adsynth.data.reader import DatasetReader
from adsynth.errors import DataError
from adsynth.evaluate.metrics import pixel_metrics
from adsynth.evaluate.report import MapSample, evaluate
from adsynth.evaluate.runner import evaluate_files

H, W, SIZE = 48, 24, 32  # photo H×W, stored SIZE×SIZE: photo columns 8..23, padding the other half


def _tall_category(root):
    rng = np.random.default_rng(0)
    for split, kind, n in (("train", "good", 2), ("test", "good", 3), ("test", "crack", 3)):
        for i in range(n):
            path = root / split / kind / f"{i:03d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), rng.integers(60, 200, (H, W), dtype=np.uint8))
            if kind == "crack":
                mask = np.zeros((H, W), np.uint8)
                mask[10 + 4 * i : 22 + 4 * i, 4:16] = 255
                mpath = root / "ground_truth" / kind / f"{i:03d}_mask.png"
                mpath.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(mpath), mask)


@pytest.fixture
def padded(tmp_path):
    """A padded import and a folder of maps: noise on the photo (defects higher, overlapping), 0 on the
    padding."""
    root = tmp_path / "tall"
    _tall_category(root)
    data = tmp_path / "pad.h5"
    args = ["dataset", "import", "--input", str(root), "--out", str(data), "--size", str(SIZE)]
    r = CliRunner().invoke(cli, [*args, "--resize", "pad"])
    assert r.exit_code == 0, r.output
    rng = np.random.default_rng(1)
    maps_dir = tmp_path / "maps"
    with DatasetReader(data, split="test") as ds:
        for i, name in enumerate(ds.names):
            mask = ds.read_mask(i).astype(bool)
            amap = np.zeros((SIZE, SIZE), np.float32)
            amap[:, 8:24] = rng.uniform(0.2, 0.6, (SIZE, 16))
            amap[mask] = rng.uniform(0.4, 1.0, int(mask.sum()))
            path = maps_dir / f"{name.rsplit('.', 1)[0]}.npy"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, amap)
    return data, maps_dir


def _maps_and_masks(data, maps_dir):
    with DatasetReader(data, split="test") as ds:
        masks = [ds.read_mask(i) for i in range(len(ds))]
        maps = [np.load(maps_dir / f"{n.rsplit('.', 1)[0]}.npy") for n in ds.names]
    return maps, masks


def test_eval_leaves_the_padding_out_of_the_pixel_metrics(padded, tmp_path):
    data, maps_dir = padded
    maps, masks = _maps_and_masks(data, maps_dir)
    assert all(not m[:, :8].any() and not m[:, 24:].any() for m in masks)  # the import padded the masks
    photo = pixel_metrics([m[:, 8:24] for m in maps], [k[:, 8:24] for k in masks])
    whole = pixel_metrics(maps, masks)
    assert whole["pixel_auroc"] > photo["pixel_auroc"] + 0.02  # the bars flatter the model

    out = tmp_path / "report"
    r = CliRunner().invoke(cli, ["eval", "--data", str(data), "--maps", str(maps_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = {row["defect_type"]: row for row in json.loads((out / "metrics.json").read_text())["rows"]}
    got = rows["all"]["metrics"]
    y = np.concatenate([k[:, 8:24].ravel() for k in masks])
    p = np.concatenate([m[:, 8:24].ravel() for m in maps])
    assert got["pixel_auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-9)
    for key in ("pixel_auroc", "pixel_ap", "pixel_f1_max", "aupro"):
        assert got[key] == pytest.approx(photo[key], abs=1e-9), key
    assert rows["all"]["n_pixels"] == len(masks) * SIZE * 16
    line = "pixels outside the photos (letterbox padding of a `pad` import) are left out: 50.0 % of pixels"
    assert line in r.output and line in (out / "metrics.md").read_text()


def test_other_imports_and_written_datasets_have_no_box(padded, tmp_path, mvtec_dir):
    data, maps_dir = padded
    report, _ = evaluate_files(data, maps_dir)
    assert any("letterbox" in n for n in report.notes)
    square = tmp_path / "stretch.h5"
    args = ["dataset", "import", "--input", str(mvtec_dir), "--out", str(square), "--size", "32"]
    assert CliRunner().invoke(cli, [*args, "--resize", "pad"]).exit_code == 0  # square photos: no bars
    with DatasetReader(square, split="test") as ds:
        maps = {n: np.full((32, 32), 0.5, np.float32) for n in ds.names}
    folder = tmp_path / "flat"
    for n, m in maps.items():
        (folder / n).parent.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"{n.rsplit('.', 1)[0]}.npy", m)
    report, _ = evaluate_files(square, folder)
    assert not any("letterbox" in n for n in report.notes)


def test_photo_box_of_a_sample():
    amap = np.zeros((8, 8), np.float32)
    mask = np.zeros((8, 8), np.uint8)
    mask[3:5, 3:5] = 1
    amap[3:5, 3:5] = 0.5
    amap[2, 2] = 0.7  # a photo pixel above the defect
    amap[0, 0] = 0.9  # on the padding: neither scored nor the image score
    good = MapSample("good/0", np.where(mask, 0.0, amap).astype(np.float32), None, 0, "good")
    bad = MapSample("crack/0", amap, mask, 1, "crack", photo_box=(2, 2, 4, 4))
    rep = evaluate([good, bad])
    assert rep.per_image[1].score == pytest.approx(0.7)
    assert rep.counts["all"]["n_pixels"] == 64 + 16
    with pytest.raises(DataError, match="outside the photo box"):
        evaluate([MapSample("crack/0", amap, mask, 1, "crack", photo_box=(0, 0, 2, 8))])
    with pytest.raises(DataError, match="does not fit"):
        evaluate([MapSample("crack/0", amap, mask, 1, "crack", photo_box=(4, 4, 8, 8))])


def test_calibration_leaves_the_padding_out_too(padded):
    """``calibrate``'s pixel threshold at a normal-pixel FPR is taken over the photos' pixels: bright
    padding (as a model may map it) must not raise it."""
    from adsynth.pipeline import calibrate_maps

    data, maps_dir = padded
    maps, _ = _maps_and_masks(data, maps_dir)
    for m in maps:
        m[:, :8] = m[:, 24:] = 5.0  # the padding mapped far above every photo pixel
    with DatasetReader(data, split="test") as ds:
        scores = [float(m.max()) for m in maps]
        entry = calibrate_maps(ds, maps, scores, fpr=0.1)
        photo_only = [m[:, 8:24] for m in maps]
        expected = calibrate_maps_plain(ds, photo_only, scores)
    assert entry["pixel"] == pytest.approx(expected["pixel"]) and entry["pixel"] < 1.0


def calibrate_maps_plain(ds, maps, scores):
    from adsynth.evaluate.thresholds import calibrate

    return calibrate(scores, ds.labels, maps, None, fpr=0.1)

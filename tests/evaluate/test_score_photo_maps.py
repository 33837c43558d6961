"""benchmarks/score_photo_maps.py: predict --input results scored against MVTec masks at the photos' size."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

_SPEC = importlib.util.spec_from_file_location(
    "score_photo_maps", Path(__file__).resolve().parents[2] / "benchmarks" / "score_photo_maps.py"
)
score_photo_maps = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(score_photo_maps)


def _results(tmp_path, root, amap_of):
    res = tmp_path / "res"
    rows = []
    for p in sorted((root / "test").rglob("*.png")):
        name = p.relative_to(root / "test").as_posix()
        amap = amap_of(name)
        (res / "maps" / name).parent.mkdir(parents=True, exist_ok=True)
        np.save(res / "maps" / f"{name}.npy", amap.astype(np.float32))
        rows.append({"name": name, "score": float(amap.max())})
    with open(res / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["name", "score"])
        w.writeheader()
        w.writerows(rows)
    return res


def _mask(root, name):
    t, file = name.split("/")
    if t == "good":
        return np.zeros((48, 48), np.float32)
    return (cv2.imread(str(root / "ground_truth" / t / f"{file[:-4]}_mask.png"), 0) > 0).astype(np.float32)


def test_perfect_maps_score_one_and_a_shifted_map_less(tmp_path, mvtec_dir, capsys):
    res = _results(tmp_path, mvtec_dir, lambda n: _mask(mvtec_dir, n))
    assert score_photo_maps.main(["--results", str(res), "--dataset", str(mvtec_dir)]) == 0
    rows = [r.split("|") for r in capsys.readouterr().out.splitlines()[2:]]
    assert [r[1].strip() for r in rows] == ["crack", "hole", "all"]
    assert all(float(v) == 1.0 for r in rows for v in r[3:6])
    res2 = _results(tmp_path / "b", mvtec_dir, lambda n: np.roll(_mask(mvtec_dir, n), 20, axis=1))
    score_photo_maps.main(["--results", str(res2), "--dataset", str(mvtec_dir)])
    out = [r.split("|") for r in capsys.readouterr().out.splitlines()[2:]]
    assert float(out[-1][3]) == 1.0 and float(out[-1][4]) < 1.0  # images still ranked, pixels not


def test_a_map_at_another_size_is_refused(tmp_path, mvtec_dir):
    res = _results(tmp_path, mvtec_dir, lambda n: np.zeros((24, 24)))
    with pytest.raises(SystemExit):
        score_photo_maps.main(["--results", str(res), "--dataset", str(mvtec_dir)])

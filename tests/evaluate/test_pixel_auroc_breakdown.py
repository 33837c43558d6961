"""benchmarks/pixel_auroc_breakdown.py: the pooled pixel AUROC split by where its pixels come from."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from adsynth.data import DatasetWriter
from adsynth.data.maps import write_maps
from adsynth.evaluate.metrics import pixel_auroc

_SPEC = importlib.util.spec_from_file_location(
    "pixel_auroc_breakdown", Path(__file__).resolve().parents[2] / "benchmarks" / "pixel_auroc_breakdown.py"
)
breakdown_mod = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(breakdown_mod)

SIZE = 32


def _data(tmp_path, shift: float):
    """6 defect-free and 6 defective test photos (types a, b); maps of seeded noise, defects +3, the
    normal pixels of the defective photos + ``shift``."""
    rng = np.random.default_rng(0)
    names, maps, masks = [], [], []
    path = tmp_path / "d.h5"
    with DatasetWriter(path, height=SIZE, width=SIZE, channels=1, seed=0) as w:
        w.append(np.zeros((SIZE, SIZE, 1), np.uint8), name="train/0.png")
        for i in range(12):
            mask = np.zeros((SIZE, SIZE), np.uint8)
            m = rng.normal(0.0, 1.0, (SIZE, SIZE))
            if i < 6:
                kw = {}
            else:
                t = "a" if i < 9 else "b"
                mask[4 : 8 + i, 4:12] = 1
                m[mask == 0] += shift
                m[mask > 0] += 3.0
                kw = {"label": 1, "defect_type": t}
            name = f"test/{i}.png"
            w.append(np.zeros((SIZE, SIZE, 1), np.uint8), mask, split="test", name=name, **kw)
            names.append(name)
            maps.append(m.astype(np.float32))
            masks.append(mask)
    mp = tmp_path / "maps.h5"
    maps = np.stack(maps)
    write_maps(mp, maps, maps.reshape(12, -1).max(1), names, np.arange(12))
    return str(path), str(mp), maps, np.stack(masks)


def test_pooled_row_equals_the_metric_and_no_shift_reads_as_none(tmp_path):
    data, mp, maps, masks = _data(tmp_path, shift=0.0)
    r = breakdown_mod.breakdown(data, mp)
    rows = r["rows"]
    assert set(rows) == {"a", "b", "all"}
    assert rows["all"]["pooled"] == pytest.approx(pixel_auroc(maps, masks > 0), abs=1e-9)
    assert rows["a"]["images"] == 3 and rows["all"]["defect_pixels"] == int((masks > 0).sum())
    assert abs(rows["all"]["shift"] - 0.5) < 0.05  # normal pixels of both kinds of photo alike
    assert rows["a"]["vs_good"] > 0.95 and rows["a"]["vs_same"] > 0.95


def test_a_photo_level_shift_is_reported_and_explains_the_pooled_drop(tmp_path):
    data, mp, maps, masks = _data(tmp_path, shift=2.5)
    rows = breakdown_mod.breakdown(data, mp)["rows"]
    assert rows["all"]["shift"] > 0.9
    assert rows["all"]["photo"] == 1.0  # the photos are told apart away from their defects
    assert rows["all"]["vs_other"] < 0.75 < rows["all"]["vs_good"]
    assert rows["all"]["pooled"] == pytest.approx(pixel_auroc(maps, masks > 0), abs=1e-9)
    # Within its own photo a defect stands 0.5 σ above the (shifted) rest: what is left to localise.
    own = np.mean([pixel_auroc(maps[i][None], masks[i][None] > 0) for i in range(6, 12)])
    assert rows["all"]["within"] == pytest.approx(own, abs=1e-9)
    assert 0.5 < own < rows["all"]["vs_good"]
    # Windows of the shifted defective photos are harder negatives than the defect-free photos' ones.
    assert rows["all"]["windows"] < rows["all"]["windows_good"]
    (tmp_path / "n").mkdir()
    no_shift = breakdown_mod.breakdown(*_data(tmp_path / "n", shift=0.0)[:2])["rows"]
    assert rows["all"]["pooled"] < no_shift["all"]["pooled"]
    assert no_shift["all"]["photo"] < 0.9  # 6 against 6 medians of the same noise: chance level


def test_windows_take_the_maximum_of_each_grid_cell_and_flag_the_defective_ones():
    amap = np.arange(100, dtype=np.float32).reshape(10, 10)
    keep = np.zeros((10, 10), bool)
    keep[9, 0] = True
    score, has = breakdown_mod._windows(amap, keep, 0.3)  # 3 px windows; the ragged 4th joins the 3rd
    assert score.tolist() == [22, 25, 29, 52, 55, 59, 92, 95, 99]
    assert has.tolist() == [False] * 6 + [True, False, False]


def test_a_split_without_defect_free_photos_is_a_one_line_error(tmp_path, capsys):
    data, mp, _, _ = _data(tmp_path, shift=0.0)
    with pytest.raises(SystemExit) as e:
        breakdown_mod.main(["--maps", mp, "--data", data, "--split", "train"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "error:" in err[-1] and "Traceback" not in "\n".join(err)


def test_cli_prints_the_table(tmp_path, capsys):
    data, mp, _, _ = _data(tmp_path, shift=1.0)
    assert breakdown_mod.main(["--maps", mp, "--data", data]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pooled pixel AUROC ")
    assert "| all | 6 |" in out and "| a | 3 |" in out


@pytest.mark.parametrize(("flag", "value"), [("--window", "0"), ("--window", "1.5"), ("--margin", "-1")])
def test_bad_window_or_margin_is_a_one_line_error(tmp_path, capsys, flag, value):
    data, mp, _, _ = _data(tmp_path, shift=0.0)
    with pytest.raises(SystemExit) as e:
        breakdown_mod.main(["--maps", mp, "--data", data, flag, value])
    assert e.value.code == 2 and flag in capsys.readouterr().err.strip().splitlines()[-1]

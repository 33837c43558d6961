"""Importers (every image kind, MVTec layout, resize policies, corrupt files) and the MVTec export."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from adsynth.data import DatasetReader
from adsynth.data.exporters import export_mvtec
from adsynth.data.images import fit, read_image
from adsynth.data.importers import import_dataset
from adsynth.data.samples import sample_source
from adsynth.data.writer import partial_path
from adsynth.errors import DataError, OutputExistsError


@pytest.fixture
def photo():
    return cv2.resize(sample_source("coffee"), (60, 40), interpolation=cv2.INTER_AREA)


def test_every_image_kind(tmp_path, photo):
    d = tmp_path / "photos"
    (d / "sub").mkdir(parents=True)
    bgr = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(d / "a_rgb.png"), bgr)
    cv2.imwrite(str(d / "b.jpg"), bgr)
    cv2.imwrite(str(d / "c.bmp"), bgr)
    cv2.imwrite(str(d / "sub" / "d.tiff"), bgr)
    cv2.imwrite(str(d / "sub" / "e_gray.png"), gray)
    cv2.imwrite(str(d / "f16.png"), gray.astype(np.uint16) * 257)
    cv2.imwrite(str(d / "g_rgba.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGRA))
    cv2.imwrite(str(d / "h16rgb.tif"), bgr.astype(np.uint16) * 257)
    (d / "notes.txt").write_text("not an image")
    s = import_dataset(d, tmp_path / "p.h5", size=32)
    ds = DatasetReader(s.path)
    assert len(ds) == 8 and ds.shape == (32, 32, 3)
    names = ds.names
    assert "sub/d.tiff" in names and "sub/e_gray.png" in names
    assert set(ds.defect_types) == {"good"} and set(ds.splits) == {"train"}
    # 16-bit images are scaled to the same 8-bit values as their 8-bit originals.
    np.testing.assert_array_equal(read_image(d / "f16.png"), read_image(d / "sub" / "e_gray.png"))
    np.testing.assert_array_equal(read_image(d / "h16rgb.tif"), read_image(d / "a_rgb.png"))
    np.testing.assert_array_equal(read_image(d / "g_rgba.png"), photo)
    assert read_image(d / "a_rgb.png").shape == (40, 60, 3)
    assert s.settings["resize"] == "stretch" and s.settings["size"] == [32, 32]


def test_gray_auto_mode_and_forced_rgb(tmp_path, photo):
    d = tmp_path / "g"
    d.mkdir()
    for i in range(3):
        cv2.imwrite(str(d / f"{i}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))
    assert DatasetReader(import_dataset(d, tmp_path / "a.h5").path).shape == (40, 60, 1)
    assert DatasetReader(import_dataset(d, tmp_path / "b.h5", color="rgb").path).shape == (40, 60, 3)


def test_mixed_sizes_need_size(tmp_path, photo):
    d = tmp_path / "m"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), photo)
    cv2.imwrite(str(d / "b.png"), photo[:30])
    with pytest.raises(DataError, match="b.png.*--size"):
        import_dataset(d, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists() and not partial_path(tmp_path / "x.h5").exists()


def test_corrupt_file_named_and_skip_bad(tmp_path, photo):
    d = tmp_path / "c"
    d.mkdir()
    for i in range(3):
        cv2.imwrite(str(d / f"{i}.png"), photo)
    (d / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match="1.png"):
        import_dataset(d, tmp_path / "x.h5", size=16)
    assert not (tmp_path / "x.h5").exists()
    s = import_dataset(d, tmp_path / "x.h5", size=16, skip_bad=True)
    assert s.n_written == 2 and [n for n, _ in s.skipped] == ["1.png"]
    assert DatasetReader(s.path).names == ["0.png", "2.png"]


def test_mvtec_layout_keeps_types_and_binary_masks(tmp_path, mvtec_dir):
    s = import_dataset(mvtec_dir, tmp_path / "m.h5", size=(24, 40))
    assert s.settings["importer"] == "mvtec"
    assert s.counts == {
        ("train", "good", 0): 6,
        ("test", "good", 0): 3,
        ("test", "crack", 1): 2,
        ("test", "hole", 1): 2,
    }
    ds = DatasetReader(s.path, label="anomalous")
    for i in range(len(ds)):
        m = ds[i]["mask"]
        assert m.shape == (24, 40) and set(np.unique(m)) <= {0, 1} and m.sum() > 0
    assert DatasetReader(s.path, split="test", label="normal")[0]["mask"].sum() == 0


def test_mvtec_missing_mask(tmp_path, mvtec_dir):
    (mvtec_dir / "ground_truth" / "crack" / "001_mask.png").unlink()
    with pytest.raises(DataError, match="001.png"):
        import_dataset(mvtec_dir, tmp_path / "m.h5")
    s = import_dataset(mvtec_dir, tmp_path / "m.h5", skip_bad=True)
    assert s.n_written == 12 and len(s.skipped) == 1


def test_val_fraction_is_seeded(tmp_path, mvtec_dir):
    a = import_dataset(mvtec_dir, tmp_path / "a.h5", val_fraction=0.5, seed=3)
    b = import_dataset(mvtec_dir, tmp_path / "b.h5", val_fraction=0.5, seed=3)
    assert a.counts[("val", "good", 0)] == 3
    assert DatasetReader(a.path, split="val").names == DatasetReader(b.path, split="val").names


@pytest.mark.parametrize("mode", ["stretch", "pad", "crop"])
def test_resize_policies(mode):
    img = np.full((20, 40, 1), 200, np.uint8)
    mask = np.zeros((20, 40), np.uint8)
    mask[5:15, 0:40] = 1
    out, m = fit(img, mask, (32, 32), mode)
    assert out.shape == (32, 32, 1) and m.shape == (32, 32) and set(np.unique(m)) <= {0, 1}
    if mode == "pad":  # aspect kept: 40×20 → 32×16, centred, zero padding
        assert (out[:8] == 0).all() and (out[8:24] == 200).all() and (m[:8] == 0).all()
    elif mode == "crop":
        assert (out == 200).all() and m[:, 0].sum() == m[:, 16].sum()
    else:
        assert (out == 200).all()


def test_export_round_trip(tmp_path, mvtec_dir):
    s = import_dataset(mvtec_dir, tmp_path / "m.h5")
    counts = export_mvtec(s.path, tmp_path / "exp")
    assert sum(counts.values()) == 13
    s2 = import_dataset(tmp_path / "exp", tmp_path / "m2.h5")
    assert s2.counts == s.counts
    a, b = DatasetReader(s.path, label="anomalous"), DatasetReader(s2.path, label="anomalous")
    ma = sorted(a[i]["mask"].tobytes() for i in range(len(a)))
    mb = sorted(b[i]["mask"].tobytes() for i in range(len(b)))
    assert ma == mb
    with pytest.raises(OutputExistsError):
        export_mvtec(s.path, tmp_path / "exp")


def test_export_names_cannot_escape(tmp_path):
    from adsynth.data import DatasetWriter

    p = tmp_path / "evil.h5"
    with DatasetWriter(p, height=8, width=8, channels=1) as w:
        w.append(
            np.zeros((8, 8, 1), np.uint8),
            name="../../etc/passwd",
            defect_type="../../x",
            label=1,
            mask=np.ones((8, 8), np.uint8),
            split="test",
        )
    export_mvtec(p, tmp_path / "out")
    files = [f for f in (tmp_path / "out").rglob("*") if f.is_file()]
    assert files and all((tmp_path / "out") in f.resolve().parents for f in files)
    assert not (tmp_path / "etc").exists()

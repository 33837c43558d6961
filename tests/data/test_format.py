"""The HDF5 format: round trip, filters, version refusal, missing datasets, atomic and resumable writes."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from adsynth.data import DatasetReader, DatasetWriter, merge_datasets
from adsynth.data import format as F
from adsynth.data.writer import partial_path
from adsynth.errors import ConfigError, DataError, FormatError, OutputExistsError


def _rows(n, c=3, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = rng.integers(0, 256, (16, 20, c), dtype=np.uint8)
        mask = (rng.random((16, 20)) < 0.1).astype(np.uint8) if i % 2 else np.zeros((16, 20), np.uint8)
        yield img, mask, i


def _write(path, n=10, c=3, **kw):
    with DatasetWriter(path, height=16, width=20, channels=c, seed=7, settings={"a": 1}, **kw) as w:
        for img, mask, i in _rows(n, c):
            w.append(
                img,
                mask,
                label=i % 2,
                defect_type="good" if i % 2 == 0 else f"t{i % 3}",
                split=F.SPLITS[i % 3],
                name=f"n{i}",
                source=f"s{i}",
                provenance={"i": i, "x": [1, 2]},
            )
    return path


@pytest.mark.parametrize("c", [1, 3])
def test_round_trip(tmp_path, c):
    p = _write(tmp_path / "d.h5", c=c)
    ds = DatasetReader(p)
    assert len(ds) == 10 and ds.shape == (16, 20, c)
    for (img, mask, i), k in zip(_rows(10, c), range(10), strict=False):
        item = ds[k]
        np.testing.assert_array_equal(item["image"], img)
        np.testing.assert_array_equal(item["mask"], mask)
        assert item["label"] == i % 2
        assert item["split"] == F.SPLITS[i % 3]
        assert item["name"] == f"n{i}" and ds.source(k) == f"s{i}"
        assert ds.provenance(k) == {"i": i, "x": [1, 2]}
    assert ds.seed == 7 and ds.settings == {"a": 1}
    assert ds.attrs["color_mode"] == ("gray" if c == 1 else "rgb")
    with h5py.File(p, "r") as f:  # no pickled objects anywhere: only numeric and string datasets
        for k in f:
            assert f[k].dtype.kind in "uiS" or h5py.check_string_dtype(f[k].dtype) is not None
        assert f[F.IMAGES].chunks == (1, 16, 20, c)


def test_filters(tmp_path):
    ds = DatasetReader(_write(tmp_path / "d.h5"))
    assert len(DatasetReader(ds.path, label="anomalous")) == 5
    assert set(DatasetReader(ds.path, label="normal").labels.tolist()) == {0}
    sel = DatasetReader(ds.path, split="test")
    assert set(sel.splits) == {"test"} and len(sel) == 3
    sel = DatasetReader(ds.path, defect_type=["t1", "good"])
    assert set(sel.defect_types) == {"t1", "good"}
    assert all(sel[i]["defect_type"] in ("t1", "good") for i in range(len(sel)))
    with pytest.raises(ConfigError, match="unknown split"):
        DatasetReader(ds.path, split="dev")
    with pytest.raises(ConfigError, match=r"unknown defect type 'nosuch' \(valid: good, t0, t1, t2\)"):
        DatasetReader(ds.path, defect_type=["good", "nosuch"])
    with pytest.raises(ConfigError, match=r"no sample has label 7 \(labels in the file: 0, 1"):
        DatasetReader(ds.path, label=7)


def test_refuses_newer_version_and_missing_dataset(tmp_path):
    p = _write(tmp_path / "d.h5")
    with h5py.File(p, "r+") as f:
        f.attrs["format_version"] = F.FORMAT_VERSION + 1
    with pytest.raises(FormatError, match="newer"):
        DatasetReader(p)
    p2 = _write(tmp_path / "e.h5")
    with h5py.File(p2, "r+") as f:
        del f[F.PROVENANCE]
    with pytest.raises(FormatError, match="provenance"):
        DatasetReader(p2)
    p3 = tmp_path / "other.h5"
    with h5py.File(p3, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(FormatError, match="not an adsynth dataset"):
        DatasetReader(p3)
    p4 = tmp_path / "junk.h5"
    p4.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match="junk.h5"):
        DatasetReader(p4)


def test_never_overwrites_without_flag(tmp_path):
    p = _write(tmp_path / "d.h5")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        _write(p)
    _write(p, n=3, overwrite=True)
    assert len(DatasetReader(p)) == 3


def test_interrupted_write_leaves_no_complete_file_and_resumes(tmp_path):
    p = tmp_path / "d.h5"
    with pytest.raises(KeyboardInterrupt):
        with DatasetWriter(p, height=16, width=20, channels=3, seed=1, buffer_rows=4) as w:
            for img, mask, i in _rows(10):
                if i == 7:
                    raise KeyboardInterrupt
                w.append(img, mask, name=f"n{i}")
    assert not p.exists() and partial_path(p).exists()
    with pytest.raises(DataError):
        DatasetReader(p)
    w = DatasetWriter(p, height=16, width=20, channels=3, seed=1, resume=True)
    assert w.committed == 7  # the buffered rows were committed on the way out
    for img, mask, i in list(_rows(10))[w.committed :]:
        w.append(img, mask, name=f"n{i}")
    w.close()
    ds = DatasetReader(p)
    assert ds.names == [f"n{i}" for i in range(10)]
    for (img, _, _), k in zip(_rows(10), range(10), strict=False):
        np.testing.assert_array_equal(ds[k]["image"], img)
    assert not partial_path(p).exists()


def test_resume_refuses_different_settings(tmp_path):
    p = tmp_path / "d.h5"
    w = DatasetWriter(p, height=16, width=20, channels=3, seed=1)
    w.append(np.zeros((16, 20, 3), np.uint8))
    w.abort(keep=True)
    with pytest.raises(ConfigError, match="different settings"):
        DatasetWriter(p, height=16, width=20, channels=3, seed=2, resume=True)


def test_partial_file_is_refused_by_reader(tmp_path):
    p = tmp_path / "d.h5"
    w = DatasetWriter(p, height=16, width=20, channels=3)
    w.append(np.zeros((16, 20, 3), np.uint8))
    w.abort(keep=True)
    with pytest.raises(FormatError, match="did not finish"):
        DatasetReader(partial_path(p))


def test_append_and_merge(tmp_path):
    a = _write(tmp_path / "a.h5", n=4)
    w = DatasetWriter.append_to(a)
    w.append(np.ones((16, 20, 3), np.uint8), label=1, defect_type="new-type", name="extra")
    w.close()
    ds = DatasetReader(a)
    assert len(ds) == 5 and ds[4]["defect_type"] == "new-type" and ds.seed == 7
    b = _write(tmp_path / "b.h5", n=3)
    m = merge_datasets([a, b], tmp_path / "m.h5")
    dm = DatasetReader(m)
    assert len(dm) == 8
    assert dm.defect_types == ds.defect_types + DatasetReader(b).defect_types
    np.testing.assert_array_equal(dm[5]["image"], DatasetReader(b)[0]["image"])
    assert [e["seed"] for e in dm.settings["merged_from"]] == [7, 7]
    with DatasetWriter(tmp_path / "g.h5", height=16, width=20, channels=1) as w:
        w.append(np.zeros((16, 20, 1), np.uint8))
    with pytest.raises(ConfigError, match="cannot merge"):
        merge_datasets([a, tmp_path / "g.h5"], tmp_path / "m2.h5")


def test_writer_validates_rows(tmp_path):
    w = DatasetWriter(tmp_path / "d.h5", height=16, width=20, channels=3)
    with pytest.raises(DataError, match="'bad'"):
        w.append(np.zeros((16, 21, 3), np.uint8), name="bad")
    with pytest.raises(DataError, match="binary"):
        w.append(np.zeros((16, 20, 3), np.uint8), np.full((16, 20), 2, np.uint8), name="m")
    with pytest.raises(ConfigError, match="split"):
        w.append(np.zeros((16, 20, 3), np.uint8), split="dev")
    w.abort(keep=False)
    assert not partial_path(tmp_path / "d.h5").exists()


def test_torch_dataset_in_workers(tmp_path):
    import torch

    from adsynth.data.torchdata import H5Dataset

    p = _write(tmp_path / "d.h5", n=10)
    ds = H5Dataset(p, split="train")
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    names = [n for b in loader for n in b["name"]]
    assert names == DatasetReader(p, split="train").names
    assert isinstance(ds, torch.utils.data.Dataset)


def test_provenance_is_json(tmp_path):
    p = _write(tmp_path / "d.h5", n=2)
    with h5py.File(p, "r") as f:
        assert json.loads(f[F.PROVENANCE][0]) == {"i": 0, "x": [1, 2]}

"""The maps file format: :class:`MapsWriter` (streaming, atomic), :func:`write_maps`, :func:`read_maps`."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from adsynth.data.maps import MAPS_FORMAT, MAPS_FORMAT_VERSION, MapsWriter, read_maps, write_maps
from adsynth.errors import DataError, FormatError, OutputExistsError


def test_h5_round_trip(tmp_path):
    path = tmp_path / "maps.h5"
    maps = np.random.default_rng(0).random((3, 5, 6)).astype(np.float32)
    names = ["bottle/test/crack/000.png", "bottle/test/good/000.png", "é.png"]
    write_maps(path, maps, [0.5, np.nan, 1.0], names, [4, 5, 6], attrs={"model": "draem"})
    with h5py.File(path) as f:
        assert f.attrs["format"] == "adsynth-maps" and f.attrs["format_version"] == 1
        assert f.attrs["model"] == "draem" and f["maps"].dtype == np.float32
    with read_maps(path, names=list(reversed(names))) as ms:
        assert ms.names == names and ms.index.tolist() == [4, 5, 6]
        amap, score = ms["é.png"]
        np.testing.assert_array_equal(amap, maps[2])
        assert score == 1.0 and np.isnan(ms["bottle/test/good/000.png"][1])
    assert not list(tmp_path.glob(".*.tmp"))
    with pytest.raises(OutputExistsError):
        write_maps(path, maps, [0, 0, 0], names, [0, 1, 2])


def test_h5_name_mismatch_and_format(tmp_path):
    path = tmp_path / "maps.h5"
    write_maps(path, np.zeros((2, 2, 2)), [0, 0], ["a", "b"], [0, 1])
    with pytest.raises(DataError, match=r"2 maps for 3 samples.*no map for 1 samples \('c'\)"):
        read_maps(path, names=["a", "b", "c"])
    with pytest.raises(DataError, match="match no sample.*'b'"):
        read_maps(path, names=["a"])
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["format"] = "something-else"
    with pytest.raises(FormatError, match="not an adsynth maps file"):
        read_maps(bad)
    with pytest.raises(DataError, match="expected N=2"):
        write_maps(tmp_path / "x.h5", np.zeros((2, 2, 2)), [0], ["a", "b"], [0, 1])


def test_streaming_writer_appends_batches_and_renames_when_done(tmp_path):
    path = tmp_path / "sub" / "maps.h5"
    rng = np.random.default_rng(1)
    maps = rng.random((5, 3, 4)).astype(np.float32)
    names = [f"test/good/{i:03d}.png" for i in range(5)]
    with MapsWriter(path, attrs={"model": "ae", "format": "ignored"}, expected=5) as w:
        w.append(maps[:2], [0.1, 0.2], names[:2], [7, 8])
        assert not path.exists()  # nothing under the final name while writing
        w.append(maps[2:], [0.3, np.nan, 0.5], names[2:], np.arange(9, 12))
    assert w.n == 5 and oct(path.stat().st_mode & 0o777) == "0o644"
    with h5py.File(path) as f:
        assert f.attrs["format"] == MAPS_FORMAT and f.attrs["format_version"] == MAPS_FORMAT_VERSION
        assert f.attrs["model"] == "ae"
        assert {k: f[k].dtype.kind for k in f} == {"maps": "f", "scores": "f", "index": "i", "names": "O"}
    with read_maps(path, names=names) as ms:
        assert ms.names == names and ms.index.tolist() == [7, 8, 9, 10, 11]
        np.testing.assert_array_equal(ms[names[3]][0], maps[3])
        assert np.isnan(ms[names[3]][1]) and ms[names[4]][1] == pytest.approx(0.5)
    assert os.listdir(path.parent) == ["maps.h5"]


def test_streaming_writer_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "maps.h5"
    with pytest.raises(KeyboardInterrupt), MapsWriter(path) as w:
        w.append(np.zeros((1, 2, 2)), [0], ["a"], [0])
        raise KeyboardInterrupt
    with pytest.raises(DataError, match="wrote 1 of 2 maps"), MapsWriter(path, expected=2) as w:
        w.append(np.zeros((1, 2, 2)), [0], ["a"], [0])
    with pytest.raises(DataError, match="repeated"), MapsWriter(path) as w:
        w.append(np.zeros((1, 2, 2)), [0], ["a"], [0])
        w.append(np.zeros((1, 2, 2)), [0], ["a"], [1])
    with pytest.raises(DataError, match="size"), MapsWriter(path) as w:
        w.append(np.zeros((1, 2, 2)), [0], ["a"], [0])
        w.append(np.zeros((1, 3, 3)), [0], ["b"], [1])
    assert os.listdir(tmp_path) == []
    with pytest.raises(DataError, match="outside"):
        MapsWriter(path).append(np.zeros((1, 2, 2)), [0], ["a"], [0])


def test_streaming_writer_refuses_an_existing_output(tmp_path):
    path = tmp_path / "maps.h5"
    write_maps(path, np.zeros((1, 2, 2)), [0], ["a"], [0])
    with pytest.raises(OutputExistsError, match="--overwrite"), MapsWriter(path):
        pass
    with pytest.raises(OutputExistsError, match="directory"), MapsWriter(tmp_path):
        pass
    with MapsWriter(path, overwrite=True) as w:
        w.append(np.ones((2, 2, 2)), [1, 2], ["b", "c"], [0, 1])
    with read_maps(path) as ms:
        assert ms.names == ["b", "c"]


def test_empty_maps_file(tmp_path):
    with MapsWriter(tmp_path / "empty.h5"):
        pass
    write_maps(tmp_path / "zero.h5", np.zeros((0, 4, 4)), [], [], [])
    for name in ("empty.h5", "zero.h5"):
        with read_maps(tmp_path / name) as ms:
            assert len(ms) == 0
    with pytest.raises(DataError, match="does not exist"):
        read_maps(tmp_path / "nope.h5")

"""HDF5 maps files and map directories."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from adsynth.errors import DataError, FormatError, OutputExistsError
from adsynth.evaluate.io import read_maps, write_maps


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


def test_directory_matching(tmp_path):
    import cv2

    (tmp_path / "crack").mkdir()
    (tmp_path / "good").mkdir()
    np.save(tmp_path / "crack" / "000.npy", np.ones((4, 4), np.float32))
    cv2.imwrite(str(tmp_path / "good" / "000.tiff"), np.full((4, 4), 0.25, np.float32))
    names = ["bottle/test/crack/000.png", "bottle/test/good/000.png"]
    ms = read_maps(tmp_path, names=names)
    assert ms["bottle/test/good/000.png"][0][0, 0] == pytest.approx(0.25)
    assert ms["bottle/test/crack/000.png"][0].sum() == 16
    with pytest.raises(DataError, match="no map for 1 samples.*hole/001"):
        read_maps(tmp_path, names=names + ["bottle/test/hole/001.png"])
    with pytest.raises(DataError, match="match no sample"):
        read_maps(tmp_path, names=names[:1])


def test_flat_directory_by_stem_and_ambiguity(tmp_path):
    np.save(tmp_path / "000.npy", np.zeros((2, 2), np.float32))
    np.save(tmp_path / "001.npy", np.zeros((2, 2), np.float32))
    assert len(read_maps(tmp_path, names=["x/000.png", "x/001.png"])) == 2
    with pytest.raises(DataError, match="matches both"):
        read_maps(tmp_path, names=["a/000.png", "b/000.png", "x/001.png"])
    with pytest.raises(DataError, match="does not exist"):
        read_maps(tmp_path / "nope.h5")

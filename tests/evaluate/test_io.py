"""Folders of maps and :func:`open_maps` (maps files: tests/data/test_maps.py)."""

from __future__ import annotations

import numpy as np
import pytest

from adsynth.data.maps import write_maps
from adsynth.errors import DataError
from adsynth.evaluate.io import open_maps, read_map_folder


def test_directory_matching(tmp_path):
    import cv2

    (tmp_path / "crack").mkdir()
    (tmp_path / "good").mkdir()
    np.save(tmp_path / "crack" / "000.npy", np.ones((4, 4), np.float32))
    cv2.imwrite(str(tmp_path / "good" / "000.tiff"), np.full((4, 4), 0.25, np.float32))
    names = ["bottle/test/crack/000.png", "bottle/test/good/000.png"]
    ms = read_map_folder(tmp_path, names=names)
    assert ms["bottle/test/good/000.png"][0][0, 0] == pytest.approx(0.25)
    assert ms["bottle/test/crack/000.png"][0].sum() == 16
    with pytest.raises(DataError, match="no map for 1 samples.*hole/001"):
        open_maps(tmp_path, names=names + ["bottle/test/hole/001.png"])
    with pytest.raises(DataError, match="match no sample"):
        open_maps(tmp_path, names=names[:1])


def test_flat_directory_by_stem_and_ambiguity(tmp_path):
    np.save(tmp_path / "000.npy", np.zeros((2, 2), np.float32))
    np.save(tmp_path / "001.npy", np.zeros((2, 2), np.float32))
    assert len(open_maps(tmp_path, names=["x/000.png", "x/001.png"])) == 2
    with pytest.raises(DataError, match="matches both"):
        open_maps(tmp_path, names=["a/000.png", "b/000.png", "x/001.png"])
    with pytest.raises(DataError, match="does not exist"):
        open_maps(tmp_path / "nope.h5")


def test_open_maps_reads_a_maps_file_and_keys_a_folder_by_path(tmp_path):
    write_maps(tmp_path / "maps.h5", np.ones((1, 2, 2)), [0.5], ["a/000.png"], [3])
    with open_maps(tmp_path / "maps.h5", names=["a/000.png"]) as ms:
        assert ms.index.tolist() == [3] and ms["a/000.png"][1] == 0.5
    folder = tmp_path / "maps"
    (folder / "crack").mkdir(parents=True)
    np.save(folder / "crack" / "000.npy", np.zeros((2, 2), np.float32))
    ms = open_maps(folder)
    assert ms.names == ["crack/000"] and ms.index is None and np.isnan(ms["crack/000"][1])

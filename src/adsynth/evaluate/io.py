"""Opening anomaly maps for evaluation: a maps file, or a folder of one map per test image.

The maps file format belongs to :mod:`adsynth.data.maps` (writer and reader); this module adds folders:
one ``.npy``, ``.tif`` or ``.tiff`` map per test image, matched to the sample names by path without
extension. The file ``crack/000.tif`` matches the sample ``bottle/test/crack/000.png``, and a flat
folder matches by file stem. A name matching no file (or several) is an error.

Example:
    >>> import numpy as np, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "000.npy"), np.zeros((4, 4), np.float32))
    >>> with open_maps(folder, names=["bottle/test/good/000.png"]) as maps:
    ...     amap, score = maps["bottle/test/good/000.png"]
    >>> amap.shape
    (4, 4)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from adsynth._validation import few
from adsynth.data.maps import MapSet, read_maps
from adsynth.errors import DataError

__all__ = ["open_maps", "read_map_folder"]

_MAP_SUFFIXES = (".npy", ".tif", ".tiff")


def _key_parts(name: str) -> tuple[str, ...]:
    """Path components of a name without the file extension."""
    p = PurePosixPath(name.replace("\\", "/"))
    return (*p.parent.parts, p.stem) if p.parent != PurePosixPath(".") else (p.stem,)


def _load_map_file(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as e:  # pickled objects (refused: loading runs code) or not a .npy file
            why = "holds pickled objects, which are not loaded" if "pickle" in str(e) else str(e)
            raise DataError(f"anomaly map {str(path)!r} {why}; save plain arrays (np.save)") from None
    else:
        import cv2

        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise DataError(f"cannot read anomaly map {str(path)!r}")
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim != 2:
        raise DataError(f"{path}: expected a 2-D anomaly map, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def read_map_folder(path: str | os.PathLike, names: Sequence[str] | None = None) -> MapSet:
    """A folder of ``.npy``/``.tif``/``.tiff`` maps as a :class:`~adsynth.data.maps.MapSet` (no scores).

    Args:
        path: the folder (searched recursively).
        names: the data file's sample names, to match files to samples; without them the maps are
            keyed by relative path without extension. Missing or unmatched names raise.

    Raises:
        DataError: no map files, an unreadable map, or maps and names that do not match one to one.
    """
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _MAP_SUFFIXES)
    if not files:
        raise DataError(f"{path}: no .npy/.tif/.tiff anomaly maps found")
    by_key: dict[tuple[str, ...], Path] = {}
    for p in files:
        rel = p.relative_to(path)
        key = (*rel.parent.parts, rel.stem)
        if key in by_key:
            raise DataError(f"{path}: two maps for {'/'.join(key)!r} ({by_key[key].name}, {p.name})")
        by_key[key] = p
    if names is None:
        keyed = ["/".join(k) for k in by_key]
        paths = list(by_key.values())
    else:
        keyed, paths = [], []
        used: dict[Path, str] = {}
        missing = []
        for name in names:
            parts = _key_parts(name)
            hit = next((by_key[parts[j:]] for j in range(len(parts)) if parts[j:] in by_key), None)
            if hit is None:
                missing.append(name)
                continue
            if hit in used:
                raise DataError(
                    f"{path}: map {str(hit.relative_to(path))!r} matches both {used[hit]!r} and {name!r}; "
                    "put the maps in sub-folders that tell the samples apart"
                )
            used[hit] = name
            keyed.append(name)
            paths.append(hit)
        unused = [str(p.relative_to(path)) for p in files if p not in used]
        if missing or unused:
            parts_msg = [f"{path}: {len(files)} map files for {len(names)} samples"]
            if missing:
                parts_msg.append(f"no map for {len(missing)} samples ({few(missing)})")
            if unused:
                parts_msg.append(f"{len(unused)} map files match no sample ({few(unused)})")
            raise DataError("; ".join(parts_msg))
    return MapSet(
        keyed,
        lambda i: _load_map_file(paths[i]),
        np.full(len(keyed), np.nan),
        None,
        None,
        str(path),
    )


def open_maps(path: str | os.PathLike, names: Sequence[str] | None = None) -> MapSet:
    """Open anomaly maps: a maps file (:func:`adsynth.data.maps.read_maps`) or a folder of maps.

    Args:
        path: the ``.h5`` maps file or the folder.
        names: the data file's sample names: matched to a folder's files, checked against a maps
            file's stored names. Missing or unmatched names raise.

    Raises:
        DataError: unreadable input, or maps and names that do not match one to one.
        FormatError: an HDF5 file that is not an adsynth maps file of a supported version.
    """
    p = Path(path)
    if p.is_dir():
        return read_map_folder(p, names)
    return read_maps(p, names)

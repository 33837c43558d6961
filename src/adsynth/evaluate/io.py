"""Reading and writing anomaly maps: an HDF5 maps file, or a directory of one map per test image.

HDF5 maps file (``format="adsynth-maps"``, ``format_version=1`` as root attributes):

- ``maps``   float32 N×h×w anomaly maps;
- ``scores`` float32 N image scores (NaN = no model score, the evaluation uses the map maximum);
- ``names``  variable-length UTF-8 strings, the sample names of the data file;
- ``index``  int64 N, row of each sample in the data file.

Directory: one ``.npy``, ``.tif`` or ``.tiff`` map per test image, matched to the sample names by path
without extension: the file ``crack/000.tif`` matches the sample ``bottle/test/crack/000.png``, and a
flat directory matches by file stem. A name matching no file (or several) is an error.

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "maps.h5")
    >>> write_maps(path, np.zeros((2, 4, 4), np.float32), [np.nan, 0.5], ["a.png", "b.png"], [0, 1])
    >>> with read_maps(path) as maps:
    ...     amap, score = maps["b.png"]
    >>> amap.shape, score
    ((4, 4), 0.5)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from adsynth.errors import DataError, FormatError, OutputExistsError

__all__ = ["MAPS_FORMAT", "MAPS_FORMAT_VERSION", "MapSet", "read_maps", "write_maps"]

MAPS_FORMAT = "adsynth-maps"
MAPS_FORMAT_VERSION = 1
_MAP_SUFFIXES = (".npy", ".tif", ".tiff")


def _few(items: Sequence[str], n: int = 5) -> str:
    shown = ", ".join(repr(x) for x in list(items)[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _key_parts(name: str) -> tuple[str, ...]:
    """Path components of a name without the file extension."""
    p = PurePosixPath(name.replace("\\", "/"))
    return (*p.parent.parts, p.stem) if p.parent != PurePosixPath(".") else (p.stem,)


class MapSet:
    """Anomaly maps addressed by sample name; ``maps[name] -> (map, score or NaN)``.

    Use as a context manager (or call :meth:`close`) to release an open HDF5 file.

    Attributes:
        names: the sample names, in file order.
        index: row of each sample in the data file (HDF5 only, else None).
    """

    def __init__(self, names: list[str], loader, scores: np.ndarray, index=None, closer=None, source=""):
        self.names = names
        self.scores = scores
        self.index = index
        self.source = source
        self._loader = loader
        self._closer = closer
        self._row = {n: i for i, n in enumerate(names)}
        if len(self._row) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise DataError(f"{source}: duplicate sample names {_few(dup)}")

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._row

    def __getitem__(self, name: str) -> tuple[np.ndarray, float]:
        try:
            i = self._row[name]
        except KeyError:
            raise DataError(f"{self.source}: no anomaly map for sample {name!r}") from None
        return self._loader(i), float(self.scores[i])

    def check_names(self, names: Iterable[str]) -> None:
        """Raise :class:`DataError` unless the maps cover exactly ``names`` (the data file's samples)."""
        wanted = list(names)
        missing = [n for n in wanted if n not in self._row]
        extra = sorted(set(self.names) - set(wanted))
        if missing or extra:
            parts = [f"{self.source}: {len(self.names)} maps for {len(wanted)} samples"]
            if missing:
                parts.append(f"no map for {len(missing)} samples ({_few(missing)})")
            if extra:
                parts.append(f"{len(extra)} maps match no sample ({_few(extra)})")
            raise DataError("; ".join(parts))

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> MapSet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _read_h5(path: Path) -> MapSet:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(f"cannot open maps file {str(path)!r}: {e}") from None
    try:
        fmt = f.attrs.get("format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt != MAPS_FORMAT:
            raise FormatError(f"{path}: not an adsynth maps file (format attribute {fmt!r})")
        version = int(f.attrs.get("format_version", -1))
        if version != MAPS_FORMAT_VERSION:
            raise FormatError(f"{path}: unsupported maps format_version {version} (expected 1)")
        for key in ("maps", "scores", "names", "index"):
            if key not in f:
                raise FormatError(f"{path}: missing dataset `{key}`")
        maps = f["maps"]
        n = maps.shape[0]
        if maps.ndim != 3:
            raise FormatError(f"{path}: expected `maps` of shape N×h×w, got {maps.shape}")
        names = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in f["names"][()]]
        scores = np.asarray(f["scores"][()], dtype=np.float64)
        index = np.asarray(f["index"][()], dtype=np.int64)
        if not (len(names) == scores.shape[0] == index.shape[0] == n):
            raise FormatError(
                f"{path}: {n} maps but {len(names)} names, {scores.shape[0]} scores, "
                f"{index.shape[0]} index rows"
            )
        return MapSet(
            names,
            lambda i: np.asarray(maps[i], dtype=np.float32),
            scores,
            index,
            f.close,
            str(path),
        )
    except BaseException:
        f.close()
        raise


def _load_map_file(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        arr = np.load(path, allow_pickle=False)
    else:
        import cv2

        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise DataError(f"cannot read anomaly map {str(path)!r}")
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim != 2:
        raise DataError(f"{path}: expected a 2-D anomaly map, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def _read_dir(path: Path, names: Sequence[str] | None) -> MapSet:
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
                parts_msg.append(f"no map for {len(missing)} samples ({_few(missing)})")
            if unused:
                parts_msg.append(f"{len(unused)} map files match no sample ({_few(unused)})")
            raise DataError("; ".join(parts_msg))
    return MapSet(
        keyed,
        lambda i: _load_map_file(paths[i]),
        np.full(len(keyed), np.nan),
        None,
        None,
        str(path),
    )


def read_maps(path: str | os.PathLike, names: Sequence[str] | None = None) -> MapSet:
    """Open anomaly maps: an HDF5 maps file or a directory of ``.npy``/``.tif`` maps.

    Args:
        path: the ``.h5`` file or the directory.
        names: the data file's sample names. For a directory they are needed to match files to
            samples (without them the maps are keyed by relative path without extension); for an
            HDF5 file they are checked against the stored names. Missing or unmatched names raise.

    Raises:
        DataError: unreadable input, or maps and names that do not match one to one.
        FormatError: an HDF5 file that is not an adsynth maps file of version 1.
    """
    p = Path(path)
    if p.is_dir():
        return _read_dir(p, names)
    if not p.exists():
        raise DataError(f"maps path {str(p)!r} does not exist")
    maps = _read_h5(p)
    if names is not None:
        try:
            maps.check_names(names)
        except DataError:
            maps.close()
            raise
    return maps


def write_maps(
    path: str | os.PathLike,
    maps,
    scores,
    names: Sequence[str],
    index,
    attrs: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> None:
    """Write an HDF5 maps file atomically (temporary file in the same directory, then rename).

    Args:
        path: destination ``.h5`` file.
        maps: N×h×w array (stored as float32).
        scores: N image scores; NaN where the model gives none.
        names: N sample names (stored as variable-length UTF-8).
        index: N rows of the samples in the data file.
        attrs: extra root attributes (model name, checkpoint, ...); cannot override the format ones.
        overwrite: replace an existing file.
    """
    import h5py

    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(f"maps file {str(p)!r} exists (use overwrite)")
    maps = np.asarray(maps, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    names = [str(n) for n in names]
    if maps.ndim != 3:
        raise DataError(f"expected `maps` of shape N×h×w, got {maps.shape}")
    n = maps.shape[0]
    if not (len(names) == scores.size == index.size == n):
        raise DataError(
            f"expected N={n} names, scores and index rows, got {len(names)}, {scores.size}, {index.size}"
        )
    if len(set(names)) != n:
        raise DataError("expected unique sample names in `names`")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            for k, v in (attrs or {}).items():
                if k not in ("format", "format_version"):
                    f.attrs[k] = v
            f.attrs["format"] = MAPS_FORMAT
            f.attrs["format_version"] = MAPS_FORMAT_VERSION
            chunks = (1, *maps.shape[1:]) if n else None
            f.create_dataset("maps", data=maps, chunks=chunks)
            f.create_dataset("scores", data=scores)
            f.create_dataset("names", data=names, dtype=h5py.string_dtype("utf-8"))
            f.create_dataset("index", data=index)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

"""The adsynth maps format (HDF5): anomaly maps and image scores of a model on a dataset.

This module owns the layout (specified in docs/FORMAT.md, "Maps files"); ``adsynth.zoo.deploy.predict`` writes
it with :class:`MapsWriter`, ``adsynth.evaluate`` reads it with :func:`read_maps`. Root attributes
``format="adsynth-maps"`` and ``format_version=1`` (plus free extra attributes: model, checkpoint, ...),
and four datasets of N rows:

- ``maps``   float32 N×h×w anomaly maps;
- ``scores`` float32 N image scores (NaN = no model score, the evaluation uses the map maximum);
- ``names``  variable-length UTF-8 strings, the sample names of the data file (unique);
- ``index``  int64 N, row of each sample in the data file.

A file is written to a temporary file in the destination's folder and renamed when complete: an
interrupted or failed write leaves no maps file (and no temporary file).

Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "maps.h5")
    >>> with MapsWriter(path, attrs={"model": "draem"}) as w:
    ...     w.append(np.zeros((2, 4, 4)), [np.nan, 0.5], ["a.png", "b.png"], [0, 1])
    >>> with read_maps(path) as maps:
    ...     amap, score = maps["b.png"]
    >>> amap.shape, score
    ((4, 4), 0.5)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adsynth._validation import few
from adsynth.errors import DataError, FormatError, OutputExistsError
from adsynth.fsutil import check_free_space, umask, writing

__all__ = [
    "MAPS_FORMAT",
    "MAPS_FORMAT_VERSION",
    "MapSet",
    "MapsWriter",
    "check_maps_data",
    "check_maps_output",
    "read_maps",
    "write_maps",
]

MAPS_FORMAT = "adsynth-maps"
MAPS_FORMAT_VERSION = 1

MAPS = "maps"
SCORES = "scores"
NAMES = "names"
INDEX = "index"
DATASETS = (MAPS, SCORES, NAMES, INDEX)
_FORMAT_ATTRS = ("format", "format_version")
#: rows per chunk of the 1-D datasets (a map is one chunk of its own)
_ROW_CHUNK = 4096
#: bytes kept free beyond a batch's raw size (HDF5's chunk index and the header written at close)
_SPACE_MARGIN = 1 << 16


def check_maps_output(path: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse a maps file destination that is a folder, or that exists without ``overwrite``.

    :class:`MapsWriter` checks when it opens and when it renames; callers check first to fail before
    any work.

    Raises:
        OutputExistsError: with a message naming ``path``.
    """
    p = Path(path)
    if p.is_dir():
        raise OutputExistsError(f"{p} is a directory")
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p} exists (pass --overwrite to replace it)")


def check_maps_data(maps: str | os.PathLike, data: str | os.PathLike) -> None:
    """Refuse a maps file predicted on another data file than ``data`` (its ``data_fingerprint``).

    Sample names alone do not tell two datasets apart (another seed of the same recipe has the same
    names). A maps file without a fingerprint (written by other tools) and a folder of maps pass.

    Raises:
        DataError: naming both files, when the recorded fingerprint differs from ``data``'s.
    """
    import h5py

    from adsynth.data.fingerprint import data_fingerprint

    p = Path(maps)
    if not p.is_file():
        return
    try:
        with h5py.File(p, "r") as f:
            recorded = f.attrs.get("data_fingerprint")
    except OSError:
        return  # not HDF5: reading it reports what is wrong
    if isinstance(recorded, bytes):
        recorded = recorded.decode()
    if recorded and recorded != data_fingerprint(data):
        raise DataError(
            f"{p} was predicted on another data file than {data} (their data fingerprints differ); "
            "pass --allow-other-data to score it anyway"
        )


class MapsWriter:
    """Write a maps file batch by batch: bounded memory, atomic, nothing left behind on failure.

    Use as a context manager. Entering creates a temporary file next to ``path``; each :meth:`append`
    adds rows; leaving without an exception checks the rows (unique names, ``expected`` count) and
    renames the temporary file to ``path``. An exception (Ctrl-C included) removes the temporary file.

    Args:
        path: destination ``.h5`` file.
        attrs: extra root attributes (model name, checkpoint, ...); cannot override the format ones.
        overwrite: replace an existing file (else :class:`~adsynth.errors.OutputExistsError`).
        expected: the number of rows the file must end with (None: any).

    Example:
        >>> import numpy as np, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "maps.h5")
        >>> with MapsWriter(path, expected=3) as w:
        ...     w.append(np.zeros((2, 8, 8)), [0.1, 0.2], ["a", "b"], [0, 1])
        ...     w.append(np.ones((1, 8, 8)), [0.9], ["c"], [2])
        >>> w.n
        3
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        attrs: dict[str, Any] | None = None,
        overwrite: bool = False,
        expected: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.attrs = dict(attrs or {})
        self.overwrite = overwrite
        self.expected = expected
        self.n = 0
        self._names: list[str] = []
        self._seen: set[str] = set()
        self._file: Any = None
        self._tmp: str | None = None

    def __enter__(self) -> MapsWriter:
        import h5py

        check_maps_output(self.path, self.overwrite)
        try:
            with writing(self.path, hdf5=True):
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, self._tmp = tempfile.mkstemp(
                    prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
                )
                os.close(fd)
                self._file = h5py.File(self._tmp, "w")
                for k, v in self.attrs.items():
                    if k not in _FORMAT_ATTRS:
                        self._file.attrs[k] = v
                self._file.attrs["format"] = MAPS_FORMAT
                self._file.attrs["format_version"] = MAPS_FORMAT_VERSION
        except BaseException:
            self._discard()
            raise
        return self

    def _create(self, h: int, w: int) -> None:
        f = self._file
        f.create_dataset(MAPS, (0, h, w), np.float32, maxshape=(None, h, w), chunks=(1, h, w))
        f.create_dataset(SCORES, (0,), np.float32, maxshape=(None,), chunks=(_ROW_CHUNK,))
        f.create_dataset(INDEX, (0,), np.int64, maxshape=(None,), chunks=(_ROW_CHUNK,))

    def append(self, maps: Any, scores: Any, names: Sequence[str], index: Any) -> None:
        """Add B rows: ``maps`` B×h×w (stored float32), B scores (NaN: none), B names, B data-file rows.

        Raises:
            DataError: lengths that differ, a map size other than the first batch's, a repeated name.
        """
        if self._file is None:
            raise DataError("MapsWriter.append called outside its `with` block")
        maps = np.asarray(maps, dtype=np.float32)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1)
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        names = [str(n) for n in names]
        if maps.ndim != 3:
            raise DataError(f"expected `maps` of shape N×h×w, got {maps.shape}")
        b = maps.shape[0]
        if not (len(names) == scores.size == index.size == b):
            raise DataError(
                f"expected N={b} names, scores and index rows, got {len(names)}, {scores.size}, {index.size}"
            )
        if MAPS not in self._file:
            self._create(*maps.shape[1:])
        ds = self._file[MAPS]
        if maps.shape[1:] != ds.shape[1:]:
            raise DataError(f"expected maps of size {ds.shape[1:]} (the first batch's), got {maps.shape[1:]}")
        dup = [n for n in names if n in self._seen]
        if dup or len(set(names)) != b:
            raise DataError(f"expected unique sample names in `names`, {few(dup or names)} repeated")
        # HDF5 cannot recover from a write the full disk cut short: refuse before it starts.
        check_free_space(self.path.parent, maps.nbytes + 16 * b + _SPACE_MARGIN, self.path)
        with writing(self.path, hdf5=True):
            for key, arr in ((MAPS, maps), (SCORES, scores), (INDEX, index)):
                self._file[key].resize(self.n + b, axis=0)
                self._file[key][self.n : self.n + b] = arr
        self._names += names
        self._seen.update(names)
        self.n += b

    def _finish(self) -> None:
        if self.expected is not None and self.n != self.expected:
            raise DataError(f"{self.path}: wrote {self.n} of {self.expected} maps")
        check_free_space(self.path.parent, _SPACE_MARGIN + 64 * len(self._names), self.path)
        with writing(self.path, hdf5=True):
            self._write_names_and_close()
        check_maps_output(self.path, self.overwrite)  # the destination may have appeared while writing
        with writing(self.path):
            os.replace(self._tmp, self.path)
        self._tmp = None

    def _write_names_and_close(self) -> None:
        import h5py

        if MAPS not in self._file:  # no rows: empty datasets, map size unknown
            for key, shape, dtype in ((MAPS, (0, 0, 0), np.float32), (SCORES, (0,), np.float32)):
                self._file.create_dataset(key, shape, dtype)
            self._file.create_dataset(INDEX, (0,), np.int64)
        self._file.create_dataset(NAMES, data=self._names, dtype=h5py.string_dtype("utf-8"))
        self._file.close()
        self._file = None
        os.chmod(self._tmp, 0o666 & ~umask())  # mkstemp makes 0600; a maps file is ordinary output

    def _discard(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except (OSError, RuntimeError):
                pass  # the file is deleted anyway; the write's own error is the one reported
            self._file = None
        if self._tmp is not None and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            try:
                self._finish()
            except BaseException:
                self._discard()
                raise
        else:
            self._discard()


def write_maps(
    path: str | os.PathLike,
    maps: Any,
    scores: Any,
    names: Sequence[str],
    index: Any,
    attrs: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> None:
    """Write a whole maps file at once (one :meth:`MapsWriter.append`).

    Args:
        path: destination ``.h5`` file.
        maps: N×h×w array (stored as float32).
        scores: N image scores; NaN where the model gives none.
        names: N unique sample names.
        index: N rows of the samples in the data file.
        attrs: extra root attributes; cannot override the format ones.
        overwrite: replace an existing file.

    Example:
        >>> import numpy as np, tempfile, os
        >>> write_maps(os.path.join(tempfile.mkdtemp(), "m.h5"), np.zeros((1, 4, 4)), [0.0], ["a"], [0])
    """
    with MapsWriter(path, attrs=attrs, overwrite=overwrite) as w:
        w.append(maps, scores, names, index)


class MapSet:
    """Anomaly maps addressed by sample name; ``maps[name] -> (map, score or NaN)``.

    Use as a context manager (or call :meth:`close`) to release an open HDF5 file. Besides a maps
    file (:func:`read_maps`), ``adsynth.evaluate.io`` builds one over a folder of map files.

    Attributes:
        names: the sample names, in file order.
        scores: the image scores (NaN: none).
        index: row of each sample in the data file (maps files only, else None).
        source: the path, for messages.
    """

    def __init__(
        self,
        names: list[str],
        loader: Callable[[int], np.ndarray],
        scores: np.ndarray,
        index: np.ndarray | None = None,
        closer: Callable[[], None] | None = None,
        source: str = "",
    ) -> None:
        self.names = names
        self.scores = scores
        self.index = index
        self.source = source
        self._loader = loader
        self._closer = closer
        self._row = {n: i for i, n in enumerate(names)}
        if len(self._row) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise DataError(f"{source}: duplicate sample names {few(dup)}")

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
                parts.append(f"no map for {len(missing)} samples ({few(missing)})")
            if extra:
                parts.append(f"{len(extra)} maps match no sample ({few(extra)})")
            raise DataError("; ".join(parts))

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
            self._closer = None

    def __enter__(self) -> MapSet:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _open(path: Path) -> MapSet:
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
            raise FormatError(
                f"{path}: unsupported maps format_version {version} (expected {MAPS_FORMAT_VERSION})"
            )
        for key in DATASETS:
            if key not in f:
                raise FormatError(f"{path}: missing dataset `{key}`")
        maps = f[MAPS]
        n = maps.shape[0]
        if maps.ndim != 3:
            raise FormatError(f"{path}: expected `maps` of shape N×h×w, got {maps.shape}")
        names = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in f[NAMES][()]]
        scores = np.asarray(f[SCORES][()], dtype=np.float64)
        index = np.asarray(f[INDEX][()], dtype=np.int64)
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


def read_maps(path: str | os.PathLike, names: Sequence[str] | None = None) -> MapSet:
    """Open a maps file; maps are read one at a time, on access.

    Args:
        path: the ``.h5`` maps file.
        names: the data file's sample names, checked against the stored ones (missing or extra
            names raise); None: no check.

    Raises:
        DataError: a missing or unreadable file, or names that do not match one to one.
        FormatError: not an adsynth maps file of a supported version.

    Example:
        >>> with read_maps("maps.h5", names=["a.png", "b.png"]) as maps:  # doctest: +SKIP
        ...     amap, score = maps["a.png"]
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"maps path {str(p)!r} does not exist")
    maps = _open(p)
    if names is not None:
        try:
            maps.check_names(names)
        except DataError:
            maps.close()
            raise
    return maps

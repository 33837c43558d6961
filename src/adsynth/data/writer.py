"""The one writer of adsynth HDF5 datasets: atomic, appendable, resumable, mergeable.

Rows are buffered and written in blocks; after each block the number of committed rows is stored in the
file so an interrupted write can be resumed. The file lives under a temporary name
(``<out>.partial``) until :meth:`DatasetWriter.close` renames it, so an interrupted run never leaves a
file that looks complete.

Example:
    >>> import numpy as np, tempfile, os
    >>> from adsynth.data import DatasetWriter, DatasetReader
    >>> out = os.path.join(tempfile.mkdtemp(), "d.h5")
    >>> with DatasetWriter(out, height=8, width=8, channels=1) as w:
    ...     w.append(np.zeros((8, 8, 1), np.uint8), name="a")
    >>> len(DatasetReader(out))
    1
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adsynth import __version__
from adsynth.data import format as F
from adsynth.errors import ConfigError, DataError, FormatError, OutputExistsError, WriteError
from adsynth.fsutil import check_free_space, check_unlocked, created_timestamp, writing

PARTIAL_SUFFIX = ".partial"
#: bytes kept free beyond a block's raw size (HDF5's chunk index, heaps and the header written at close)
SPACE_MARGIN = 1 << 16


def partial_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


def check_output(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse an existing output unless ``overwrite``; make sure its folder exists."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p} already exists (pass --overwrite to replace it)")
    if p.exists() and p.is_dir():
        raise OutputExistsError(f"{p} is a directory")
    if not p.parent.exists():
        raise DataError(f"output folder {p.parent} does not exist")
    return p


class DatasetWriter:
    """Write an adsynth dataset.

    Args:
        path: final file name; data goes to ``<path>.partial`` until :meth:`close`.
        height, width, channels: image geometry (channels 1 or 3).
        seed: the seed that produced the data (recorded).
        settings: import settings or recipe (JSON-serialisable, recorded).
        overwrite: replace an existing ``path``.
        resume: continue an interrupted write of the same settings from ``<path>.partial``.
        buffer_rows: rows buffered before a block is written and committed.
        compression: codec of images and masks (see ``format.CODECS``).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        height: int,
        width: int,
        channels: int,
        seed: int | None = None,
        settings: dict[str, Any] | None = None,
        overwrite: bool = False,
        resume: bool = False,
        buffer_rows: int = 64,
        compression: str | None = F.COMPRESSION,
        _base: str | os.PathLike | None = None,
    ) -> None:
        if channels not in (1, 3):
            raise ConfigError(f"expected `channels` to be 1 or 3, got {channels!r}")
        if height < 2 or width < 2:
            raise ConfigError(f"expected image size of at least 2×2, got {height}×{width}")
        self.path = Path(path)
        self.tmp = partial_path(self.path)
        self.shape = (int(height), int(width), int(channels))
        self.buffer_rows = int(buffer_rows)
        self._buf: list[tuple] = []
        self._closed = False
        settings = settings or {}
        settings_json = json.dumps(settings, sort_keys=True)
        self._f = None
        self._created = False  # whether the partial file is this writer's (else: a run to resume, or
        # another process's)
        try:
            with writing(self.path, hdf5=True):
                self._open(seed, settings_json, compression, overwrite, resume and self.tmp.exists(), _base)
        except BaseException:
            self._discard()
            raise
        self._type_index = {t: i for i, t in enumerate(self._types)}

    def _open(self, seed, settings_json: str, compression, overwrite: bool, resuming: bool, _base) -> None:
        height, width, channels = self.shape
        check_unlocked(self.tmp, self.path)
        if resuming:
            try:
                self._f = F.h5_open(self.tmp, "r+")
            except OSError as e:
                raise DataError(
                    f"cannot resume: {self.tmp} is unreadable ({e}); delete it and start again"
                ) from None
            F.check_file(self._f, str(self.tmp))
            old = F.decode_str(self._f.attrs.get("settings", "{}"))
            old_seed = F.load_json_attr(self._f, "seed")
            if old != settings_json or old_seed != seed or self._f[F.IMAGES].shape[1:] != self.shape:
                raise ConfigError(
                    f"cannot resume {self.tmp}: it was started with different settings, seed or size "
                    "(run without --resume and with --overwrite to start again)"
                )
            self._n = int(self._f.attrs.get("n_committed", 0))
            self._truncate(self._n)
            self._types = [F.decode_str(s) for s in self._f[F.DEFECT_TYPES][()]]
        else:
            check_output(self.path, overwrite)
            if _base is not None:
                self._created = True
                shutil.copyfile(_base, self.tmp)
                self._f = F.h5_open(self.tmp, "r+")
                F.check_file(self._f, str(_base))
                if self._f[F.IMAGES].shape[1:] != self.shape:
                    raise ConfigError(
                        f"cannot append {height}×{width}×{channels} images to {_base} "
                        f"({'×'.join(map(str, self._f[F.IMAGES].shape[1:]))})"
                    )
                self._n = int(self._f[F.IMAGES].shape[0])
                self._types = [F.decode_str(s) for s in self._f[F.DEFECT_TYPES][()]]
                self._f.attrs["complete"] = False
            else:
                self._created = True
                self._f = F.h5_open(self.tmp, "w")
                self._create(seed, settings_json, compression)
                self._n = 0
                self._types = []

    # ------------------------------------------------------------------ layout
    def _create(self, seed: int | None, settings_json: str, compression: str | None) -> None:
        h, w, c = self.shape
        f = self._f
        sd = F.str_dtype()
        f.attrs["format"] = F.FORMAT_NAME
        f.attrs["format_version"] = F.FORMAT_VERSION
        f.attrs["adsynth_version"] = __version__
        f.attrs["created"] = created_timestamp()
        f.attrs["seed"] = json.dumps(seed)
        f.attrs["settings"] = settings_json
        f.attrs["height"], f.attrs["width"], f.attrs["channels"] = h, w, c
        f.attrs["color_mode"] = "gray" if c == 1 else "rgb"
        f.attrs["splits"] = json.dumps(list(F.SPLITS))
        f.attrs["complete"] = False
        f.attrs["n_committed"] = 0
        codec = F.codec_kwargs(compression)
        f.attrs["codec"] = compression or "none"
        f.create_dataset(
            F.IMAGES, (0, h, w, c), np.uint8, maxshape=(None, h, w, c), chunks=(1, h, w, c), **codec
        )
        f.create_dataset(F.MASKS, (0, h, w), np.uint8, maxshape=(None, h, w), chunks=(1, h, w), **codec)
        for name, dt in ((F.LABELS, np.uint8), (F.DEFECT_TYPE, np.uint16), (F.SPLIT, np.uint8)):
            f.create_dataset(name, (0,), dt, maxshape=(None,), chunks=(4096,))
        for name in (F.NAMES, F.SOURCES, F.PROVENANCE):
            f.create_dataset(name, (0,), sd, maxshape=(None,), chunks=(1024,))
        f.create_dataset(F.DEFECT_TYPES, (0,), sd, maxshape=(None,), chunks=(256,))

    def _truncate(self, n: int) -> None:
        for k in (F.IMAGES, F.MASKS, F.LABELS, F.DEFECT_TYPE, F.SPLIT, F.NAMES, F.SOURCES, F.PROVENANCE):
            if self._f[k].shape[0] != n:
                self._f[k].resize(n, axis=0)

    # ------------------------------------------------------------------ writing
    @property
    def n(self) -> int:
        """Rows written so far (committed plus buffered)."""
        return self._n + len(self._buf)

    @property
    def committed(self) -> int:
        """Rows safely committed to the partial file (what ``resume`` continues from)."""
        return self._n

    def append(
        self,
        image: np.ndarray,
        mask: np.ndarray | None = None,
        *,
        label: int = 0,
        defect_type: str = F.GOOD,
        split: str = "train",
        name: str = "",
        source: str = "",
        provenance: dict[str, Any] | None = None,
    ) -> None:
        """Add one sample (buffered; written in blocks)."""
        h, w, c = self.shape
        if image.ndim == 2:
            image = image[:, :, None]
        if image.shape != self.shape or image.dtype != np.uint8:
            raise DataError(
                f"sample {name!r}: image {image.shape} {image.dtype} does not match {self.shape} uint8"
            )
        if mask is None:
            mask = np.zeros((h, w), np.uint8)
        elif mask.shape != (h, w):
            raise DataError(f"sample {name!r}: mask shape {mask.shape} does not match image {(h, w)}")
        elif mask.size and mask.max() > 1:
            raise DataError(f"sample {name!r}: mask must be binary 0/1")
        if split not in F.SPLITS:
            raise ConfigError(f"unknown split {split!r} (valid: {', '.join(F.SPLITS)})")
        if not (0 <= int(label) <= 255):
            raise DataError(f"sample {name!r}: label {label} out of range 0..255")
        prov = json.dumps(provenance or {}, sort_keys=True)
        self._buf.append(
            (
                image,
                mask.astype(np.uint8, copy=False),
                int(label),
                self._type_code_written(defect_type),
                F.SPLITS.index(split),
                name,
                source,
                prov,
            )
        )
        if len(self._buf) >= self.buffer_rows:
            self.flush()

    def _type_code_written(self, t: str) -> int:
        with writing(self.path, hdf5=True):
            return self._type_code(t)

    def _type_code(self, t: str) -> int:
        code = self._type_index.get(t)
        if code is None:
            if not t:
                raise DataError("defect type must be a non-empty string")
            code = len(self._types)
            self._types.append(t)
            self._type_index[t] = code
            d = self._f[F.DEFECT_TYPES]
            d.resize(code + 1, axis=0)
            d[code] = t
        return code

    def flush(self) -> None:
        """Write buffered rows as one block and commit them."""
        if not self._buf:
            return
        k, n0 = len(self._buf), self._n
        n1 = n0 + k
        cols = list(zip(*self._buf, strict=True))
        raw = sum(a.nbytes for a in cols[0] + cols[1]) + sum(len(x) for x in cols[5] + cols[6] + cols[7])
        # HDF5 is left in a state it cannot close from when the disk fills during a write: refuse first.
        check_free_space(self.tmp.parent, raw + SPACE_MARGIN, self.path)
        with writing(self.path, hdf5=True):
            self._write_block(cols, n0, n1)
        self._n = n1
        self._buf.clear()

    def _write_block(self, cols: list, n0: int, n1: int) -> None:
        f = self._f
        self._truncate(n1)
        f[F.IMAGES][n0:n1] = np.stack(cols[0])
        f[F.MASKS][n0:n1] = np.stack(cols[1])
        f[F.LABELS][n0:n1] = np.asarray(cols[2], np.uint8)
        f[F.DEFECT_TYPE][n0:n1] = np.asarray(cols[3], np.uint16)
        f[F.SPLIT][n0:n1] = np.asarray(cols[4], np.uint8)
        f[F.NAMES][n0:n1] = list(cols[5])
        f[F.SOURCES][n0:n1] = list(cols[6])
        f[F.PROVENANCE][n0:n1] = list(cols[7])
        f.attrs["n_committed"] = n1
        f.flush()

    def set_attr(self, key: str, value: Any) -> None:
        """Record an extra root attribute (JSON-encoded)."""
        if key in F.ROOT_ATTRS:
            raise ConfigError(f"root attribute {key!r} is managed by the writer")
        self._f.attrs[key] = json.dumps(value, sort_keys=True)

    def close(self) -> Path:
        """Commit everything, mark the file complete and move it to its final name."""
        if self._closed:
            return self.path
        self.flush()
        check_free_space(self.tmp.parent, SPACE_MARGIN, self.path)
        with writing(self.path, hdf5=True):
            self._f.attrs["complete"] = True
            self._f.close()
            self._closed = True
            os.replace(self.tmp, self.path)
        return self.path

    def abort(self, keep: bool = True) -> None:
        """Stop without finishing: keep the committed rows in ``<path>.partial`` (for --resume), or delete."""
        if self._closed:
            return
        if not keep:
            self._discard(remove=True)
            return
        try:
            self.flush()
            self._f.close()
        finally:
            self._closed = True

    def _discard(self, remove: bool = False) -> None:
        """Close without writing more and delete the partial file (after a failed write: nothing left).

        A partial file this writer did not create (a run to resume, another process's file) is removed
        only with ``remove``.
        """
        self._closed = True
        self._buf.clear()
        if self._f is not None:
            try:
                self._f.close()
            except (OSError, RuntimeError):
                pass  # a file HDF5 cannot finish is deleted anyway; the first error is the one reported
        if self._created or remove:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.close()
            except WriteError:
                self._discard(remove=True)
                raise
        elif issubclass(exc_type, WriteError):
            # The disk is full or the file cannot be written: leave nothing (the next run starts clean).
            self._discard(remove=True)
        else:
            # A user interrupt or a failure keeps what was committed, under the partial name only.
            self.abort(keep=True)

    @classmethod
    def append_to(cls, path: str | os.PathLike, **kwargs: Any) -> DatasetWriter:
        """Open a complete dataset for appending; the original stays intact until :meth:`close`."""
        p = Path(path)
        try:
            with F.h5_open(p, "r") as f:
                F.check_file(f, str(p))
                h, w, c = f[F.IMAGES].shape[1:]
        except OSError as e:
            raise DataError(f"{p}: cannot open as HDF5 ({e})") from None
        return cls(p, height=h, width=w, channels=c, overwrite=True, _base=p, **kwargs)


def merge_datasets(
    inputs: Sequence[str | os.PathLike], out: str | os.PathLike, *, overwrite: bool = False, block: int = 256
) -> Path:
    """Concatenate shards with the same geometry into one dataset (defect types are remapped)."""
    from adsynth.data.reader import DatasetReader

    if not inputs:
        raise ConfigError("merge needs at least one input")
    readers = [DatasetReader(p) for p in inputs]
    h, w, c = readers[0].shape
    for r in readers[1:]:
        if r.shape != (h, w, c):
            raise ConfigError(f"cannot merge {r.path} ({r.shape}) with {readers[0].path} ({(h, w, c)})")
    settings = {
        "merged_from": [{"path": str(r.path), "settings": r.settings, "seed": r.seed} for r in readers]
    }
    with DatasetWriter(out, height=h, width=w, channels=c, settings=settings, overwrite=overwrite) as wr:
        for r in readers:
            with F.h5_open(r.path, "r") as f:
                n = f[F.IMAGES].shape[0]
                types = [F.decode_str(s) for s in f[F.DEFECT_TYPES][()]]
                for s in range(0, n, block):
                    e = min(n, s + block)
                    imgs, masks = f[F.IMAGES][s:e], f[F.MASKS][s:e]
                    labels, codes, splits = f[F.LABELS][s:e], f[F.DEFECT_TYPE][s:e], f[F.SPLIT][s:e]
                    names, sources, provs = f[F.NAMES][s:e], f[F.SOURCES][s:e], f[F.PROVENANCE][s:e]
                    for i in range(e - s):
                        wr.append(
                            imgs[i],
                            masks[i],
                            label=int(labels[i]),
                            defect_type=types[codes[i]],
                            split=F.SPLITS[splits[i]],
                            name=F.decode_str(names[i]),
                            source=F.decode_str(sources[i]),
                            provenance=json.loads(F.decode_str(provs[i])),
                        )
    if not Path(out).exists():
        raise FormatError(f"merge did not produce {out}")
    return Path(out)

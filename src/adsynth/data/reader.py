"""The one reader of adsynth HDF5 datasets.

:class:`DatasetReader` loads the small per-sample tables once and opens the HDF5 file lazily in each
process (so it is safe in DataLoader workers), returning images, masks, labels and metadata.
:class:`adsynth.data.torchdata.H5Dataset` is the same reader as a ``torch.utils.data.Dataset``.

Example:
    >>> from adsynth.data import DatasetReader
    >>> ds = DatasetReader("parts.h5", split="test", defect_type=["good", "crack"])  # doctest: +SKIP
    >>> sample = ds[0]  # doctest: +SKIP
    >>> sample["image"].shape, sample["label"], sample["defect_type"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from adsynth.data import format as F
from adsynth.errors import ConfigError, DataError, FormatError


def _as_set(x: str | int | Iterable[Any] | None) -> set[Any] | None:
    if x is None:
        return None
    if isinstance(x, (str, int, np.integer)):
        return {x}
    return set(x)


class DatasetReader:
    """Read an adsynth dataset, optionally filtered.

    Args:
        path: the ``.h5`` file.
        split: keep only these splits (``"train"``, ``"val"``, ``"test"`` or several).
        label: keep only these labels: ``"normal"`` (0), ``"anomalous"`` (>0) or integer labels.
        defect_type: keep only these defect types (``"good"``, ``"crack"``, ``"cutpaste-scar"``...).
        indices: keep only these rows (applied before the other filters).

    Items are dicts with ``image`` (H×W×C uint8), ``mask`` (H×W uint8 0/1), ``label`` (int),
    ``defect_type``, ``split``, ``name``, ``source`` (str) and ``index`` (row in the file).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        split: str | Iterable[str] | None = None,
        label: str | int | Iterable[Any] | None = None,
        defect_type: str | Iterable[str] | None = None,
        indices: Iterable[int] | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"{self.path}: no such file")
        try:
            f = F.h5_open(self.path, "r")
        except OSError as e:
            if Path(str(self.path) + ".partial").exists():
                raise DataError(f"{self.path}: cannot open ({e})") from None
            raise DataError(f"{self.path}: not a readable HDF5 file ({e})") from None
        with f:
            F.check_file(f, str(self.path))
            if not bool(f.attrs.get("complete", False)):
                raise FormatError(f"{self.path}: the write that produced this file did not finish")
            self.attrs = {
                k: (F.decode_str(v) if isinstance(v, (bytes, str)) else v) for k, v in f.attrs.items()
            }
            self.shape: tuple[int, int, int] = tuple(int(s) for s in f[F.IMAGES].shape[1:])  # type: ignore
            self._labels = f[F.LABELS][()].astype(np.int64)
            self._type_codes = f[F.DEFECT_TYPE][()].astype(np.int64)
            self.type_table = [F.decode_str(s) for s in f[F.DEFECT_TYPES][()]]
            self._split_codes = f[F.SPLIT][()].astype(np.int64)
            self._names = np.array([F.decode_str(s) for s in f[F.NAMES][()]], dtype=object)
            self.settings = F.load_json_attr(f, "settings", {})
            self.seed = F.load_json_attr(f, "seed")
        n_all = len(self._labels)
        keep = np.ones(n_all, bool)
        if indices is not None:
            idx = np.asarray(list(indices), np.int64)
            if idx.size and (idx.min() < 0 or idx.max() >= n_all):
                raise ConfigError(f"{self.path}: row index out of range 0..{n_all - 1}")
            keep[:] = False
            keep[idx] = True
        splits = _as_set(split)
        if splits is not None:
            bad = splits - set(F.SPLITS)
            if bad:
                raise ConfigError(f"unknown split {sorted(bad)[0]!r} (valid: {', '.join(F.SPLITS)})")
            keep &= np.isin(self._split_codes, [F.SPLITS.index(s) for s in splits])
        labels = _as_set(label)
        if labels is not None:
            lk = np.zeros(n_all, bool)
            for lab in labels:
                if lab == "normal":
                    lk |= self._labels == 0
                elif lab == "anomalous":
                    lk |= self._labels > 0
                elif isinstance(lab, (int, np.integer)) and not isinstance(lab, bool):
                    if not (self._labels == int(lab)).any():
                        present = ", ".join(str(v) for v in np.unique(self._labels))
                        raise ConfigError(
                            f"{self.path}: no sample has label {int(lab)} (labels in the file: {present}; "
                            "or normal, anomalous)"
                        )
                    lk |= self._labels == int(lab)
                else:
                    raise ConfigError(f"unknown label {lab!r} (valid: normal, anomalous or an integer)")
            keep &= lk
        types = _as_set(defect_type)
        if types is not None:
            unknown = sorted(t for t in types if t not in self.type_table)
            if unknown:
                raise ConfigError(
                    f"{self.path}: unknown defect type {unknown[0]!r} "
                    f"(valid: {', '.join(sorted(self.type_table))})"
                )
            codes = [self.type_table.index(t) for t in types]
            keep &= np.isin(self._type_codes, codes)
        self.indices = np.flatnonzero(keep)
        self._file: Any = None
        self._pid: int | None = None
        self._dsets: tuple[Any, Any, Any] | None = None

    # ------------------------------------------------------------------ metadata (no image reads)
    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        return self._labels[self.indices]

    @property
    def defect_types(self) -> list[str]:
        return [self.type_table[c] for c in self._type_codes[self.indices]]

    @property
    def splits(self) -> list[str]:
        return [F.SPLITS[c] for c in self._split_codes[self.indices]]

    @property
    def names(self) -> list[str]:
        return list(self._names[self.indices])

    @property
    def channels(self) -> int:
        return self.shape[2]

    def counts(self) -> Counter:
        """Sample counts per (split, defect type, label) of the selected rows."""
        return Counter(zip(self.splits, self.defect_types, self.labels.tolist(), strict=True))

    # ------------------------------------------------------------------ data access
    def _h5(self) -> Any:
        # Opened lazily and per process: h5py handles must not cross a fork into DataLoader workers.
        pid = os.getpid()
        if self._file is None or self._pid != pid:
            self._file = F.h5_open(self.path, "r")
            self._pid = pid
        return self._file

    def _datasets(self) -> tuple[Any, Any]:
        f = self._h5()
        if self._dsets is None or self._dsets[0] is not f:
            self._dsets = (f, f[F.IMAGES], f[F.MASKS])
        return self._dsets[1], self._dsets[2]

    def row(self, i: int) -> int:
        """File row of the ``i``-th selected sample."""
        return int(self.indices[i])

    def read_image(self, i: int) -> np.ndarray:
        return self._datasets()[0][self.row(i)]

    def read_mask(self, i: int) -> np.ndarray:
        return self._datasets()[1][self.row(i)]

    def provenance(self, i: int) -> dict[str, Any]:
        return json.loads(F.decode_str(self._h5()[F.PROVENANCE][self.row(i)]))

    def source(self, i: int) -> str:
        return F.decode_str(self._h5()[F.SOURCES][self.row(i)])

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        r = int(self.indices[i])
        images, masks = self._datasets()
        return {
            "image": images[r],
            "mask": masks[r],
            "label": int(self._labels[r]),
            "defect_type": self.type_table[self._type_codes[r]],
            "split": F.SPLITS[self._split_codes[r]],
            "name": str(self._names[r]),
            "index": r,
        }

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._dsets = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"], state["_pid"], state["_dsets"] = None, None, None
        return state

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

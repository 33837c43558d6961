"""The fingerprint of a dataset file, recorded by checkpoints and maps files to name their data."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from adsynth.data import format as F
from adsynth.errors import DataError

__all__ = ["data_fingerprint"]


def _plain(v: Any) -> Any:
    """A JSON-friendly version of an HDF5 attribute value (for hashing)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if hasattr(v, "tolist"):
        return v.tolist()
    return v


def data_fingerprint(path: str | os.PathLike) -> str:
    """A cheap SHA-256 of a dataset file: its sample names, root attributes and image shape.

    It identifies the data without reading any image, so a checkpoint can say which file it was
    trained on (``--resume`` refuses a different one) and a maps file which file it was predicted on
    (``adsynth eval`` refuses to score it against another).

    Example:
        >>> data_fingerprint("train.h5")  # doctest: +SKIP
        '3f1c...'
    """
    p = Path(path)
    try:
        with F.h5_open(p, "r") as f:
            h = hashlib.sha256()
            attrs = {k: _plain(v) for k, v in f.attrs.items()}
            h.update(json.dumps(attrs, sort_keys=True, default=str).encode())
            h.update(json.dumps(list(f[F.IMAGES].shape)).encode())
            for name in f[F.NAMES][()]:
                h.update(F.decode_str(name).encode("utf-8"))
                h.update(b"\n")
    except (OSError, KeyError) as e:
        raise DataError(f"{p}: cannot fingerprint the dataset ({e})") from None
    return h.hexdigest()

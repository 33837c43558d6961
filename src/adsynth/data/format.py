"""The adsynth HDF5 dataset format: names, version and validation (specified in docs/FORMAT.md).

Everything about the on-disk layout lives here; :mod:`adsynth.data.writer` and
:mod:`adsynth.data.reader` are its only users.
"""

from __future__ import annotations

import json
from typing import Any

from adsynth.errors import FormatError

FORMAT_NAME = "adsynth-dataset"
FORMAT_VERSION = 1

#: split codes stored in ``/split``
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: the defect type of every normal sample
GOOD = "good"

IMAGES = "images"
MASKS = "masks"
LABELS = "labels"
DEFECT_TYPE = "defect_type"
DEFECT_TYPES = "defect_types"
SPLIT = "split"
NAMES = "names"
SOURCES = "sources"
PROVENANCE = "provenance"

REQUIRED = (IMAGES, MASKS, LABELS, DEFECT_TYPE, DEFECT_TYPES, SPLIT, NAMES, SOURCES, PROVENANCE)

#: Codec chosen by measurement (benchmarks/bench_io.py, 256×256 RGB photos, random access):
#: Blosc-LZ4 with bit-shuffle reads ~6700 img/s at 0.74× the raw size, against ~1150 img/s for LZF
#: and ~700 img/s for gzip-1 (0.72×). Reading speed is what training needs.
COMPRESSION = "blosc-lz4"
CODECS = ("blosc-lz4", "blosc-zstd", "lzf", "gzip", "none")


def h5_open(path: Any, mode: str = "r") -> Any:
    """``h5py.File`` with the compression filters of hdf5plugin registered."""
    import h5py
    import hdf5plugin  # noqa: F401  (registers the Blosc filter with HDF5)

    return h5py.File(path, mode)


def codec_kwargs(codec: str | None) -> dict[str, Any]:
    """``create_dataset`` keyword arguments of a codec name."""
    if codec in (None, "none"):
        return {}
    if codec in ("lzf", "gzip"):
        return {"compression": codec}
    if codec in ("blosc-lz4", "blosc-zstd"):
        import hdf5plugin

        cname = codec.split("-")[1]
        return dict(hdf5plugin.Blosc(cname=cname, clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE))
    from adsynth.errors import ConfigError

    raise ConfigError(f"unknown codec {codec!r} (valid: {', '.join(CODECS)})")


ROOT_ATTRS = (
    "format",
    "format_version",
    "adsynth_version",
    "created",
    "seed",
    "settings",
    "height",
    "width",
    "channels",
    "color_mode",
    "complete",
)


def str_dtype() -> Any:
    import h5py

    return h5py.string_dtype("utf-8")


def decode_str(x: Any) -> str:
    return x.decode("utf-8") if isinstance(x, bytes) else str(x)


def check_file(f: Any, path: str) -> None:
    """Refuse files that are not adsynth datasets of a version this code can read."""
    import numpy as np  # here, not at the top: the CLI reads this module's constants at start-up

    fmt = decode_str(f.attrs.get("format", ""))
    if fmt != FORMAT_NAME:
        raise FormatError(f"{path}: not an adsynth dataset (format attribute {fmt!r})")
    try:
        version = int(f.attrs["format_version"])
    except (KeyError, TypeError, ValueError):
        raise FormatError(f"{path}: missing or invalid format_version attribute") from None
    if version > FORMAT_VERSION:
        raise FormatError(
            f"{path}: format version {version} is newer than this adsynth supports ({FORMAT_VERSION}); "
            "upgrade adsynth"
        )
    if version < 1:
        raise FormatError(f"{path}: unknown format version {version}")
    missing = [k for k in REQUIRED if k not in f]
    if missing:
        raise FormatError(f"{path}: missing required dataset(s): {', '.join(missing)}")
    n = f[IMAGES].shape[0]
    for k in (MASKS, LABELS, DEFECT_TYPE, SPLIT, NAMES, SOURCES, PROVENANCE):
        if f[k].shape[0] != n:
            raise FormatError(f"{path}: dataset /{k} has {f[k].shape[0]} rows, /images has {n}")
    for k in (IMAGES, MASKS):
        if f[k].dtype != np.uint8:
            raise FormatError(f"{path}: /{k} must be uint8, found {f[k].dtype}")
        if f[k].dtype.kind == "O":
            raise FormatError(f"{path}: /{k} holds objects")
    if f[IMAGES].ndim != 4 or f[IMAGES].shape[3] not in (1, 3):
        raise FormatError(f"{path}: /images must be N×H×W×C with C in (1, 3), found {f[IMAGES].shape}")
    if f[MASKS].shape[1:] != f[IMAGES].shape[1:3]:
        raise FormatError(f"{path}: /masks shape {f[MASKS].shape} does not match /images {f[IMAGES].shape}")


def load_json_attr(f: Any, key: str, default: Any = None) -> Any:
    raw = f.attrs.get(key)
    if raw is None:
        return default
    try:
        return json.loads(decode_str(raw))
    except json.JSONDecodeError:
        return default

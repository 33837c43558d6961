"""data: the HDF5 dataset and maps formats, their writers and readers, importers and exporters (no torch).

The names below are imported on first use, so ``adsynth.data.format`` (the constants the CLI builds its
options from) loads without numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adsynth.data.reader import DatasetReader
    from adsynth.data.writer import DatasetWriter, merge_datasets

__all__ = ["DatasetReader", "DatasetWriter", "merge_datasets"]

_WHERE = {
    "DatasetReader": "adsynth.data.reader",
    "DatasetWriter": "adsynth.data.writer",
    "merge_datasets": "adsynth.data.writer",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'adsynth.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

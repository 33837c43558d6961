"""A plain-data index of the zoo's models, so that ``adsynth models`` answers without importing torch.

``zoo/model_index.json`` holds, per method folder, the listing attributes of the models it registers.
:func:`read_index` uses it only while its folders are exactly the folders on disk (found without importing
them); otherwise, and whenever the index is unreadable, callers fall back to the live registry
(:func:`build_index`), so a new method folder is listed correctly before the index is rewritten.
``tests/zoo/test_discovery.py`` fails when the index differs from the live registry. Rewrite it with::

    python -m adsynth.zoo.model_index --write

Example:
    >>> rows = read_index() or build_index()
    >>> any(r["name"] == "patchcore" for r in rows)
    True
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

#: the index file, beside this module
INDEX_PATH = Path(__file__).with_name("model_index.json")
#: the class attributes a listing shows
FIELDS = (
    "family", "fit_mode", "needs_pretrained", "uses_synthetic", "default_recipe", "supervision", "paper",
)  # fmt: skip


def build_index() -> list[dict[str, Any]]:
    """The rows of the live registry (imports every method, hence torch), in registration order."""
    from adsynth.zoo import METHODS_PACKAGE, load_models
    from adsynth.zoo.base import MODELS

    load_models()
    rows = []
    for name, cls in MODELS.items():
        folder = cls.__module__.removeprefix(METHODS_PACKAGE + ".").split(".")[0]
        row: dict[str, Any] = {"name": name, "folder": folder}
        for f in FIELDS:
            v = getattr(cls, f)
            row[f] = list(v) if isinstance(v, (tuple, list)) else v
        rows.append(row)
    return rows


def read_index(path: Path = INDEX_PATH) -> list[dict[str, Any]] | None:
    """The stored rows, or None when the file is missing, unreadable or does not cover the folders on disk."""
    from adsynth.zoo import method_packages

    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["models"]
        folders = {r["folder"] for r in rows}
        if any(set(r) != {"name", "folder", *FIELDS} for r in rows):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return rows if folders == set(method_packages()) else None


def write_index(path: Path = INDEX_PATH) -> int:
    """Write the live registry's rows to ``path``; returns the number of models."""
    rows = build_index()
    from adsynth.fsutil import atomic_write_bytes

    text = json.dumps({"format": "adsynth-model-index", "models": rows}, indent=1, ensure_ascii=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return len(rows)


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m adsynth.zoo.model_index --write")
    print(f"wrote {INDEX_PATH}: {write_index()} models")

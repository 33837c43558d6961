"""The benchmark's output folder, as every stage reads it: the file names and :func:`read_finished`.

``runner`` writes the folder; ``results`` and ``merge`` read it. Both sides import this module, so none of
them imports another to learn a file name.

Example:
    >>> from pathlib import Path
    >>> read_finished(Path("no-such-cell")) is None
    True
"""

from __future__ import annotations

import json
from pathlib import Path

from adsynth.fsutil import file_sha256

#: A finished cell's record, in ``cells/<id>/``.
CELL_FILE = "cell.json"
#: A failed cell's error, in ``cells/<id>/``.
FAILED_FILE = "failed.json"
#: The benchmark's configuration, at the top of the output folder.
CONFIG_FILE = "benchmark.json"


def read_finished(folder: Path, expected_hash: str | None = None) -> dict | None:
    """The cell record of a finished cell folder (None when unfinished or made by another config)."""
    try:
        rec = json.loads((folder / CELL_FILE).read_text())
    except (OSError, ValueError):
        return None
    if expected_hash is not None and rec.get("cell_hash") != expected_hash:
        return None
    return rec


def recipe_identity(src: str | None) -> str | dict | None:
    """What a cell's recipe contributes to its hash: a registry name as is, a YAML file by its content.

    A file's path is not part of it, so moving the file or running from another folder keeps the cells.
    """
    if src is None or not src.endswith((".yaml", ".yml")):
        return src
    try:
        digest = file_sha256(src)[:16]
    except OSError:
        return src  # a missing file is reported where the recipe is loaded
    return {"file": Path(src).name, "sha256": digest}

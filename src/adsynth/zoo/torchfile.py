"""Reading torch files safely, with a failure that says what the file is not.

``torch.load(weights_only=True)`` refuses pickled Python objects, which is what we want, but its messages
are multi-line, name C++ source lines, and advise loading with ``weights_only=False`` (which would run
the file's code). :func:`load_tensors` keeps the safe load and replaces the message by a short reason
found from the file itself: empty, not a PyTorch file, a zip archive that is not one, a damaged one, or
one holding Python objects besides tensors and plain data.
"""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch


def load_tensors(
    path: str | os.PathLike, error: type[Exception], what: str, map_location: Any = "cpu"
) -> Any:
    """``torch.load(path, weights_only=True)``; on failure ``error("<path>: not <what> (<reason>)")``.

    Example:
        >>> load_tensors("notes.txt", FormatError, "an adsynth checkpoint")  # doctest: +SKIP
        FormatError: notes.txt: not an adsynth checkpoint (not a PyTorch file)
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4" on a foreign pickle
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many types for foreign or corrupt files
        raise error(f"{path}: not {what} ({why_unreadable(path, e)})") from None


def why_unreadable(path: str | os.PathLike, exc: BaseException) -> str:
    """What a file that ``torch.load(weights_only=True)`` refused with ``exc`` is (or is not)."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(2)
    except OSError as e:
        return e.strerror or type(e).__name__
    if size == 0:
        return "an empty file"
    refused_objects = isinstance(exc, pickle.UnpicklingError) and "weights only" in str(exc).lower()
    if zipfile.is_zipfile(p):
        try:
            with zipfile.ZipFile(p) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            return "a damaged zip archive"
        if not any(n.endswith("/data.pkl") for n in names):
            return "a zip archive that is not a PyTorch file"
        if refused_objects:
            return "a PyTorch file holding Python objects besides tensors and plain data, not loaded"
        return "a damaged PyTorch file"
    if head[:1] == b"\x80" and refused_objects:  # a pickle (protocol 2 or later), not torch's zip format
        return "a pickle holding Python objects besides tensors and plain data, not loaded"
    return "not a PyTorch file"

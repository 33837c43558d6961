"""Files written safely: atomically (temporary file + rename), with the user's umask, and reproducibly.

Every output of adsynth is written through :func:`atomic_path` (or :func:`atomic_write_bytes`): the
data goes to a hidden temporary file in the destination folder, which is renamed over the destination
only when writing succeeded, so a failure or a kill never leaves a half-written file under the real
name. ``tempfile.mkstemp`` creates files mode 0600; they get the usual ``0666 & ~umask`` instead.

:func:`created_timestamp` is the time recorded in file headers: now, or ``SOURCE_DATE_EPOCH`` (the
reproducible-builds convention) when that environment variable is set, so that two identical runs
write identical bytes.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write_bytes(d / "a.txt", b"hello")
    >>> (d / "a.txt").read_bytes()
    b'hello'
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from adsynth.errors import ConfigError

__all__ = ["atomic_path", "atomic_write_bytes", "created_timestamp", "scratch_dir", "umask"]


def umask() -> int:
    """The process umask (read without changing it for longer than the call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed over ``path``, else removed.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.bin"
        >>> with atomic_path(out) as tmp:
        ...     _ = tmp.write_bytes(b"1")
        >>> out.read_bytes()
        b'1'
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~umask())
        yield Path(tmp)
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, with the umask's permissions."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def created_timestamp() -> str:
    """ISO-8601 UTC time (seconds) for file headers: ``SOURCE_DATE_EPOCH`` when set, else now.

    Example:
        >>> import os
        >>> os.environ["SOURCE_DATE_EPOCH"] = "0"
        >>> created_timestamp()
        '1970-01-01T00:00:00+00:00'
        >>> del os.environ["SOURCE_DATE_EPOCH"]
    """
    fixed = os.environ.get("SOURCE_DATE_EPOCH")
    if fixed is None or fixed == "":
        now = _dt.datetime.now(_dt.timezone.utc)
    else:
        try:
            now = _dt.datetime.fromtimestamp(int(fixed), _dt.timezone.utc)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(
                f"expected SOURCE_DATE_EPOCH to be an integer number of seconds, got {fixed!r}"
            ) from None
    return now.isoformat(timespec="seconds")


_OWNER = ".owner-pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_scratch(parent: str | os.PathLike, prefix: str) -> list[Path]:
    """Remove ``parent/<prefix>*`` scratch folders whose owning process is dead (a killed run's litter).

    A folder without a readable owner file is left alone (it is not ours to judge).
    """
    removed = []
    for d in Path(parent).glob(f"{prefix}*"):
        try:
            pid = int((d / _OWNER).read_text().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


@contextlib.contextmanager
def scratch_dir(parent: str | os.PathLike, prefix: str) -> Iterator[Path]:
    """A temporary folder in ``parent`` (same file system as the output, so renames are atomic),
    removed on exit; one left by a killed process is removed by the next call with the same prefix.

    Example:
        >>> import tempfile
        >>> with scratch_dir(tempfile.mkdtemp(), "adsynth-doc-") as d:
        ...     d.is_dir()
        True
    """
    remove_stale_scratch(parent, prefix)
    with tempfile.TemporaryDirectory(prefix=prefix, dir=parent) as d:
        (Path(d) / _OWNER).write_text(str(os.getpid()))
        yield Path(d)


@contextlib.contextmanager
def remove_on_failure(
    folder: str | os.PathLike, keep_if: tuple[str, ...] = (), enabled: bool = True
) -> Iterator[Path]:
    """Leave no litter of a failed command in ``folder``.

    When the body raises (an error or Ctrl-C) and ``folder`` did not exist or was empty before, the
    folder is removed again (an empty folder that existed is left empty), unless one of the names in
    ``keep_if`` exists in it (what ``--resume`` needs, e.g. ``last.pt``). A folder that held files
    before is not touched.

    Example:
        >>> with remove_on_failure("runs/x", keep_if=("last.pt",)):  # doctest: +SKIP
        ...     train(...)
    """
    path = Path(folder)
    existed = path.is_dir()
    fresh = not path.exists() or (existed and not any(path.iterdir()))
    try:
        yield path
    except BaseException:
        if enabled and fresh and path.is_dir() and not any((path / k).exists() for k in keep_if):
            shutil.rmtree(path, ignore_errors=True)
            if existed:
                path.mkdir(exist_ok=True)
        raise

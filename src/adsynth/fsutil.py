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
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from adsynth.errors import LOCKED, AdsynthError, ConfigError, WriteError

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "check_free_space",
    "check_unlocked",
    "created_timestamp",
    "hdf5_broken",
    "scratch_dir",
    "umask",
    "write_error",
    "writing",
]

NO_SPACE = "no space left on device"
# (errno, the text HDF5 puts in the messages h5py raises, often as a RuntimeError without errno)
_REASONS = (
    (errno.ENOSPC, ("No space left on device", "errno = 28,"), NO_SPACE),
    (errno.EDQUOT, ("Disk quota exceeded", "errno = 122,"), "disk quota exceeded"),
    (errno.EROFS, ("Read-only file system", "errno = 30,"), "read-only file system"),
    (errno.EACCES, ("Permission denied", "errno = 13,"), "permission denied"),
    (errno.EPERM, ("Operation not permitted", "errno = 1,"), "permission denied"),
    (errno.EAGAIN, ("unable to lock file", "Resource temporarily unavailable"), LOCKED),
)
_broken = False


def write_error(e: BaseException, path: str | os.PathLike) -> WriteError | None:
    """The :class:`~adsynth.errors.WriteError` that ``e`` (raised while writing ``path``) stands for.

    Recognises the operating system's errors (``OSError`` with an errno) and h5py's, which carry
    the errno only in their text; None for an error that is not a failed write.

    Example:
        >>> import errno
        >>> str(write_error(OSError(errno.ENOSPC, "No space left on device"), "out.h5"))
        'no space left on device while writing out.h5'
    """
    if not isinstance(e, (OSError, RuntimeError)):
        return None
    code, text = getattr(e, "errno", None), str(e)
    for number, marks, reason in _REASONS:
        if code == number or any(m in text for m in marks):
            return WriteError(reason, path)
    if isinstance(e, OSError) and code is not None:
        reason = e.strerror or text.splitlines()[0]
        return WriteError(reason[:1].lower() + reason[1:], path)
    return None


def hdf5_broken() -> bool:
    """True once HDF5 failed a write for lack of space: its library state can crash at exit.

    The CLI then ends the process without the interpreter's clean-up (see ``adsynth.cli.main``).
    """
    return _broken


@contextlib.contextmanager
def writing(path: str | os.PathLike, *, hdf5: bool = False) -> Iterator[None]:
    """Turn a failed write in the body into one :class:`~adsynth.errors.WriteError` naming ``path``.

    ``hdf5``: the body writes through h5py (a disk-full failure there is remembered, :func:`hdf5_broken`).

    Example:
        >>> with writing("report.md"):  # doctest: +SKIP
        ...     Path("report.md").write_text("...")
    """
    global _broken
    try:
        yield
    except AdsynthError:
        raise
    except (OSError, RuntimeError) as e:
        err = write_error(e, path)
        if err is None:
            raise
        if hdf5 and err.reason == NO_SPACE:
            _broken = True
        raise err from None


def check_free_space(folder: str | os.PathLike, need: int, path: str | os.PathLike) -> None:
    """Raise the disk-full :class:`~adsynth.errors.WriteError` for ``path`` before writing ``need`` bytes
    into ``folder`` when the file system has less free: HDF5 cannot recover from a write it started."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < need:
        raise WriteError(NO_SPACE, path)


def check_unlocked(path: str | os.PathLike, shown: str | os.PathLike) -> None:
    """Raise the ``another process is writing`` :class:`~adsynth.errors.WriteError` for ``shown`` when
    an existing ``path`` is locked by a live writer (HDF5 locks the files it writes).

    Opening it in HDF5's ``w`` mode would truncate the other process's file before finding the lock.
    """
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            raise WriteError(LOCKED, shown) from None
    finally:
        os.close(fd)


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
    with writing(p):
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


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
def scratch_dir(
    parent: str | os.PathLike, prefix: str, output: str | os.PathLike | None = None
) -> Iterator[Path]:
    """A temporary folder in ``parent`` (same file system as the output, so renames are atomic),
    removed on exit; one left by a killed process is removed by the next call with the same prefix.
    When it cannot be made (a read-only or full file system), the error names ``output``, the file the
    user asked for, not the scratch folder.

    Example:
        >>> import tempfile
        >>> with scratch_dir(tempfile.mkdtemp(), "adsynth-doc-") as d:
        ...     d.is_dir()
        True
    """
    remove_stale_scratch(parent, prefix)
    try:
        tmp = tempfile.TemporaryDirectory(prefix=prefix, dir=parent)
    except OSError as e:
        err = write_error(e, output if output is not None else parent)
        if err is None:
            raise
        raise err from None
    with tmp as d:
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

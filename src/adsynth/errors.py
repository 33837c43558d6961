"""One small exception hierarchy.

The CLI turns :class:`UsageError` into exit code 2 and every other :class:`AdsynthError` into exit
code 1, each with a one-line message and no traceback.
"""

from __future__ import annotations


class AdsynthError(Exception):
    """Base of every error adsynth raises on purpose."""


class UsageError(AdsynthError):
    """The user asked for something invalid (bad option value, unknown name)."""


class ConfigError(UsageError):
    """An invalid parameter, recipe or model configuration."""


class DataError(AdsynthError):
    """Unreadable, corrupt or inconsistent input data."""


class FormatError(DataError):
    """An HDF5 file that is not a valid adsynth dataset of a supported version."""


class OutputExistsError(UsageError):
    """The output already exists and ``--overwrite`` was not given."""


class TrainingError(AdsynthError):
    """Training cannot continue (for example a NaN loss)."""


class WeightsError(AdsynthError):
    """Pretrained weights were asked for but cannot be found or loaded."""


#: the :class:`WriteError` reason of an output that another process holds open for writing
LOCKED = "another process is writing"


class WriteError(AdsynthError):
    """An output could not be written: no space left, no permission, or another process writes it.

    Attributes:
        reason: what went wrong, e.g. ``"no space left on device"``.
        path: the output the user asked for.
    """

    def __init__(self, reason: str, path: object) -> None:
        self.reason = reason
        self.path = path
        super().__init__(f"{reason} {path}" if reason == LOCKED else f"{reason} while writing {path}")

    def for_path(self, path: object) -> WriteError:
        """The same failure reported for another output (a scratch file's error named by its purpose)."""
        return WriteError(self.reason, path)

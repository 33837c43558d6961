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

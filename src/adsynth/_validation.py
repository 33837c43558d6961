"""Small guards that validate at the edge with messages naming the offending thing."""

from __future__ import annotations

from typing import Any

import numpy as np

from adsynth.errors import ConfigError, DataError


def check_image(x: Any, name: str = "image") -> np.ndarray:
    """Check ``x`` is a uint8 image of shape H×W, H×W×1 or H×W×3 and return it as an array."""
    if not isinstance(x, np.ndarray):
        raise DataError(f"expected `{name}` to be a numpy array, got {type(x).__name__}")
    if x.dtype != np.uint8:
        raise DataError(f"expected `{name}` to be uint8, got {x.dtype}")
    if x.ndim == 2 or (x.ndim == 3 and x.shape[2] in (1, 3)):
        if x.shape[0] < 2 or x.shape[1] < 2:
            raise DataError(f"expected `{name}` to be at least 2×2 pixels, got shape {x.shape}")
        return x
    raise DataError(f"expected `{name}` to have shape H×W, H×W×1 or H×W×3, got {x.shape}")


def check_mask(x: Any, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    """Check ``x`` is a binary (0/1) H×W mask matching ``shape``."""
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape != tuple(shape):
        got = getattr(x, "shape", type(x).__name__)
        raise DataError(f"expected `{name}` to be a 2-D array of shape {tuple(shape)}, got {got}")
    if x.size and x.max() > 1:
        raise DataError(f"expected `{name}` to be binary (0/1), found value {int(x.max())}")
    return x.astype(np.uint8, copy=False)


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"expected `{name}` to be a positive int, got {value!r}")
    return int(value)


def check_range(value: Any, lo: float, hi: float, name: str) -> float:
    """Check ``lo <= value <= hi`` for a real number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected `{name}` to be a number in [{lo}, {hi}], got {value!r}") from None
    if not (lo <= v <= hi):
        raise ConfigError(f"expected `{name}` to be in [{lo}, {hi}], got {value!r}")
    return v


def check_interval(value: Any, lo: float, hi: float, name: str) -> tuple[float, float]:
    """Check ``value`` is a pair (a, b) with ``lo <= a <= b <= hi``."""
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"expected `{name}` to be a pair (min, max), got {value!r}") from None
    if not (lo <= a <= b <= hi):
        raise ConfigError(f"expected `{name}` to satisfy {lo} <= min <= max <= {hi}, got {value!r}")
    return a, b


def check_choice(value: Any, valid: tuple[str, ...], name: str) -> str:
    """Check ``value`` is one of the strings ``valid``.

    Example:
        >>> check_choice("l2", ("l2", "ssim"), "loss")
        'l2'
    """
    if value not in valid:
        raise ConfigError(f"expected `{name}` to be one of {', '.join(valid)}, got {value!r}")
    return value


def few(items: Any, n: int = 5) -> str:
    """The first ``n`` items for an error message, and how many more there are.

    Example:
        >>> few(["a", "b", "c"], n=2)
        "'a', 'b' and 1 more"
    """
    items = list(items)
    shown = ", ".join(repr(x) for x in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")

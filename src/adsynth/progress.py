"""Progress of long loops, for a person at a terminal, a log file, or a scheduler.

One :class:`Progress` per loop (an epoch, a fit, a prediction pass). Its ``mode``:

- ``"auto"``: a tqdm bar when the stream is a terminal; otherwise plain lines, one when the loop ends
  and at most one every ``interval`` seconds (30) within it, with the rate and the ETA;
- ``"lines"``: those plain lines, also on a terminal;
- ``"json"``: the same events as one JSON object per line (``{"event": "progress" | "end", ...}``);
- ``"quiet"``: nothing.

Lines go to stderr, so that stdout keeps a command's results.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(2, "epoch 1/1", mode="lines", stream=out, unit="batch") as p:
    ...     p.update(1, items=8)
    ...     p.update(1, items=8, loss=0.5)
    >>> out.getvalue().startswith("epoch 1/1: 2/2 batch")
    True
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from typing import IO, Any

MODES = ("auto", "lines", "json", "quiet")
#: seconds between two lines within one loop (a line is always written when the loop ends)
INTERVAL_S = 30.0


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"progress mode {mode!r} is not one of {', '.join(MODES)}")
    return mode


def format_seconds(s: float) -> str:
    """``75`` -> ``"1m15s"``; ``4000`` -> ``"1h06m"``."""
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


class Progress:
    """Progress of one loop of ``total`` steps (None: unknown).

    Args:
        total: number of steps (batches, images) or None.
        desc: what runs (``"epoch 3/10"``, ``"fit"``, ``"predict"``).
        mode: see the module docstring.
        unit: the step's name in lines and bars.
        item: the name of what ``items`` counts (the rate is items per second when items are given).
        stream: where lines go (default stderr).
        interval: seconds between lines within the loop.
        clock: the time source (tests pass a fake one).
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        mode: str = "auto",
        unit: str = "batch",
        item: str = "img",
        stream: IO[str] | None = None,
        interval: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.desc, self.unit, self.item = total, desc, unit, item
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.clock = interval, clock
        self.done = self.items = 0
        self.fields: dict[str, Any] = {}
        self.t0 = self.t_line = clock()
        self.closed = False
        self.bar = None
        mode = check_mode(mode)
        if mode == "auto":
            isatty = getattr(self.stream, "isatty", None)
            mode = "bar" if isatty is not None and isatty() else "lines"
        self.mode = mode
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False, file=self.stream
            )

    def update(self, n: int = 1, items: int = 0, **fields: Any) -> None:
        """``n`` more steps, covering ``items`` images; ``fields`` (e.g. ``loss``) are shown with them."""
        self.done += n
        self.items += items
        self.fields.update(fields)
        if self.bar is not None:
            self.bar.update(n)
            if fields:
                self.bar.set_postfix({k: _short(v) for k, v in fields.items()}, refresh=False)
        elif self.mode in ("lines", "json") and self.clock() - self.t_line >= self.interval:
            self._emit("progress")

    def set_done(self, done: int, items: int | None = None) -> None:
        """Set the absolute count (for callbacks that report ``n_done``)."""
        extra = 0 if items is None else items - self.items
        self.update(done - self.done, items=extra)

    def rate(self) -> float:
        """Items (or steps when no items were counted) per second so far."""
        elapsed = max(self.clock() - self.t0, 1e-9)
        return (self.items or self.done) / elapsed

    def eta(self) -> float:
        """Seconds left at the rate so far (nan when the total or the rate is unknown)."""
        if self.total is None or self.done == 0:
            return float("nan")
        elapsed = self.clock() - self.t0
        return max(self.total - self.done, 0) * elapsed / self.done

    def event(self, kind: str) -> dict[str, Any]:
        """The state as a JSON-able dict (what ``json`` mode writes)."""
        eta = self.eta()
        out: dict[str, Any] = {
            "event": kind,
            "task": self.desc,
            "done": self.done,
            "total": self.total,
            "elapsed_s": round(self.clock() - self.t0, 3),
            f"{self.item if self.items else self.unit}_per_s": round(self.rate(), 3),
            "eta_s": None if math.isnan(eta) else round(eta, 1),
        }
        out.update({k: _plain(v) for k, v in self.fields.items()})
        return out

    def line(self, kind: str) -> str:
        """The state as one human line."""
        count = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        parts = [f"{self.desc}: {count} {self.unit}"]
        parts.append(f"{self.rate():.1f} {self.item if self.items else self.unit}/s")
        if kind == "end":
            parts.append(f"took {format_seconds(self.clock() - self.t0)}")
        elif self.total is not None:
            parts.append(f"ETA {format_seconds(self.eta())}")
        parts += [f"{k} {_short(v)}" for k, v in self.fields.items()]
        return ", ".join(parts)

    def _emit(self, kind: str) -> None:
        self.t_line = self.clock()
        text = json.dumps(self.event(kind)) if self.mode == "json" else self.line(kind)
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the loop: close the bar, or write the last line."""
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        elif self.mode in ("lines", "json"):
            self._emit("end")

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        elif self.bar is not None:
            self.closed = True
            self.bar.close()


def _plain(v: Any) -> Any:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v if isinstance(v, (str, int, bool, type(None))) else str(v)
    return round(f, 6) if math.isfinite(f) else None


def _short(v: Any) -> str:
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return str(v)

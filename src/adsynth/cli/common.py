"""Options and helpers shared by the commands (click and the format constants; nothing heavy at import).

Each option is defined once here; commands pass their own help text where its meaning differs
(``--seed`` of the samples or of a validation split, ``--workers`` as processes or threads).
"""

from __future__ import annotations

import click

from adsynth.data import format as F

#: the ``--split`` value that means every split (the library's ``split=None``)
ALL_SPLITS = "all"
#: help of ``--device`` (the values :func:`adsynth.zoo.device.resolve_device` accepts)
DEVICE_HELP = "auto, cpu, cuda or cuda:i."

overwrite_option = click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def choice_option(name: str, choices, default: str, help: str, **kw):
    """``--name`` with a fixed set of values (shown with its default)."""
    return click.option(
        name, type=click.Choice(list(choices)), default=default, show_default=True, help=help, **kw
    )


def textures_option(help: str = "Folder of texture images (e.g. DTD) for texture-based recipes."):
    return click.option("--textures", type=click.Path(file_okay=False), default=None, help=help)


def sample_option(help: str):
    """``--sample``: one of the bundled sample images (:data:`adsynth.data.samples.SAMPLES`)."""
    from adsynth.data.samples import SAMPLES

    return choice_option("--sample", SAMPLES, "brick", help)


def print_rows(rows: list[dict], as_json: bool, header: list[str], cells, right: tuple[int, ...] = ()):
    """A listing command's output: ``rows`` as JSON, or a markdown table of ``cells(row)``.

    ``right``: the columns aligned right (numbers).
    """
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    click.echo("| " + " | ".join(header) + " |")
    click.echo("|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|")
    for r in rows:
        click.echo("| " + " | ".join(str(c) for c in cells(r)) + " |")


def split_option(
    help: str,
    *,
    default: str | None = None,
    allow_all: bool = False,
    multiple: bool = False,
    name: str = "--split",
):
    """A split choice built from :data:`adsynth.data.format.SPLITS` (plus ``all`` with ``allow_all``).

    ``all`` reaches the command as None, the library's "every split".
    """

    def to_library(ctx, param, value):
        return None if value == ALL_SPLITS else value

    choices = [*F.SPLITS, ALL_SPLITS] if allow_all else list(F.SPLITS)
    return click.option(
        name,
        type=click.Choice(choices),
        default=() if multiple else default,
        show_default=default is not None,
        multiple=multiple,
        callback=None if multiple else to_library,
        help=help,
    )


def seed_option(help: str = "Random seed.", default: int | None = 0):
    """``--seed`` (an int; its default shown unless None)."""
    return click.option("--seed", type=int, default=default, show_default=default is not None, help=help)


def device_option(help: str = DEVICE_HELP):
    """``--device`` (``auto`` by default)."""
    return click.option("--device", default="auto", show_default=True, help=help)


def batch_size_option(help: str = "Images per forward pass.", default: int | None = 16):
    """``--batch-size``, a positive int."""
    return click.option(
        "--batch-size", type=click.IntRange(1), default=default, show_default=default is not None, help=help
    )


def workers_option(help: str = "DataLoader workers.", *, default: int = 0, low: int = 0, high: int = 256):
    """``--workers``: DataLoader workers (0 = in the main process), worker processes or threads."""
    return click.option(
        "--workers", type=click.IntRange(low, high), default=default, show_default=True, help=help
    )


def split_filter_options(fn):
    """--split / --label / --defect-type filters of the dataset reader."""
    fn = click.option(
        "--defect-type", "defect_type", multiple=True, help="Keep only this defect type (repeatable)."
    )(fn)
    fn = click.option(
        "--label", type=click.Choice(["normal", "anomalous"]), default=None, help="Keep only this label."
    )(fn)
    return split_option("Keep only this split (repeatable).", multiple=True)(fn)


def filters(split, label, defect_type) -> dict:
    return {
        "split": list(split) or None,
        "label": label,
        "defect_type": list(defect_type) or None,
    }


class Progress:
    """The ``progress(n_done)`` callback of a library loop as :class:`adsynth.progress.Progress`
    (a bar on a terminal, lines on a pipe or a log file, JSON lines, or nothing: ``mode``)."""

    def __init__(self, total: int | None, desc: str, unit: str = "img", mode: str = "auto") -> None:
        from adsynth.progress import Progress as _Progress

        self.p = _Progress(total, desc, mode=mode, unit=unit, item=unit)

    def __call__(self, done: int) -> None:
        self.p.set_done(done)

    def rate(self) -> float:
        return self.p.rate()

    def close(self) -> None:
        self.p.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.p.__exit__(exc_type, *exc)


def log_options(fn):
    """``--quiet`` and ``--log-json`` (read them with :func:`log_mode`)."""
    fn = click.option(
        "--log-json",
        is_flag=True,
        help="Progress (stderr) and the result (stdout) as JSON objects, one per line.",
    )(fn)
    return click.option("--quiet", "-q", is_flag=True, help="No progress and no summary; errors only.")(fn)


def log_mode(quiet: bool, log_json: bool) -> str:
    """The :mod:`adsynth.progress` mode of ``--quiet`` / ``--log-json``."""
    if quiet and log_json:
        raise click.UsageError("--quiet and --log-json exclude each other")
    return "quiet" if quiet else "json" if log_json else "auto"


def say(mode: str, lines: str | list[str], **record) -> None:
    """A command's result: the human ``lines``, one JSON ``{"event": "result", **record}``, or nothing."""
    if mode == "quiet":
        return
    if mode == "json":
        import json

        click.echo(json.dumps({"event": "result", **record}, default=str))
        return
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(line)

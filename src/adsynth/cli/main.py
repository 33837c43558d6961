"""The ``adsynth`` click group.

Each command lives in its own module and is imported only when it runs (or when ``--help`` needs its
one-line description, which only imports click). Library errors become one-line messages here:
:class:`~adsynth.errors.UsageError` exits with 2, every other :class:`~adsynth.errors.AdsynthError` with 1.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from adsynth import __version__

#: command name -> "module:attribute"; modules import only click at top level.
COMMANDS: dict[str, str] = {
    "dataset": "adsynth.cli.dataset_cmd:dataset",
    "generate": "adsynth.cli.generate_cmd:generate",
    "recipes": "adsynth.cli.recipes_cmd:recipes",
    "train": "adsynth.cli.train_cmd:train",
    "predict": "adsynth.cli.predict_cmd:predict",
    "calibrate": "adsynth.cli.predict_cmd:calibrate",
    "export-model": "adsynth.cli.predict_cmd:export_model_cmd",
    "models": "adsynth.cli.models_cmd:models",
    "backbones": "adsynth.cli.backbones_cmd:backbones",
    "demo": "adsynth.cli.demo_cmd:demo",
    "eval": "adsynth.cli.eval_cmd:eval_cmd",
    "benchmark": "adsynth.cli.benchmark_cmd:benchmark",
}


class CommandError(click.ClickException):
    """A library error shown as ``Error: <message>`` with the exit code of its kind."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def translate_errors(fn):
    """Run ``fn``; turn adsynth errors into :class:`CommandError` (no traceback for user mistakes)."""
    from adsynth.errors import AdsynthError, UsageError

    try:
        return fn()
    except AdsynthError as e:
        raise CommandError(
            str(e).splitlines()[0] if str(e) else type(e).__name__, 2 if isinstance(e, UsageError) else 1
        ) from None
    except OSError as e:
        # What no library code named: a folder that cannot be made, a file that cannot be read.
        raise CommandError(os_error_message(e), 1) from None


def os_error_message(e: OSError) -> str:
    """One line for an operating-system error: what failed and on which file."""
    if e.filename is not None and e.strerror:
        return f"{e.strerror}: {e.filename}"
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        return translate_errors(lambda: super(LazyGroup, self).invoke(ctx))


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="adsynth")
def cli() -> None:
    """adsynth: pseudo-anomaly synthesis, a model zoo and exact evaluation for visual anomaly detection.

    \b
    Typical pipeline:
      adsynth dataset import --input photos/ --out parts.h5 --size 256
      adsynth generate --recipe cutpaste-scar --input parts.h5 --out train.h5
      adsynth dataset preview train.h5 --out preview.png
    """


def _quiet_hdf5_noise(default):
    """An unraisable-exception hook that drops h5py's clean-up errors after a failed write (the
    command reports that failure once, in one line), and passes everything else to ``default``."""

    def hook(unraisable) -> None:
        from adsynth.fsutil import write_error

        if "h5py" in repr(unraisable.object) and write_error(unraisable.exc_value, "") is not None:
            return
        if "h5py" in repr(unraisable.object) and "slist already enabled" in str(unraisable.exc_value):
            return
        default(unraisable)

    return hook


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from adsynth.fsutil import hdf5_broken

    sys.unraisablehook = _quiet_hdf5_noise(sys.unraisablehook)
    try:
        cli.main(args=argv, prog_name="adsynth")
    except SystemExit as e:
        if hdf5_broken():
            # HDF5 cannot shut down cleanly after a write failed for lack of space (it crashes with
            # SIGSEGV at exit); the error is reported and the files removed, so end here.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(e.code if isinstance(e.code, int) else 1)
        raise


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])

"""Options and helpers shared by the commands (click only; nothing heavy at import)."""

from __future__ import annotations

import click

overwrite_option = click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")


def split_filter_options(fn):
    """--split / --label / --defect-type filters of the dataset reader."""
    fn = click.option(
        "--defect-type", "defect_type", multiple=True, help="Keep only this defect type (repeatable)."
    )(fn)
    fn = click.option(
        "--label", type=click.Choice(["normal", "anomalous"]), default=None, help="Keep only this label."
    )(fn)
    fn = click.option(
        "--split",
        type=click.Choice(["train", "val", "test"]),
        multiple=True,
        help="Keep only this split (repeatable).",
    )(fn)
    return fn


def filters(split, label, defect_type) -> dict:
    return {
        "split": list(split) or None,
        "label": label,
        "defect_type": list(defect_type) or None,
    }


class Progress:
    """A tqdm bar on stderr (hidden when stderr is not a terminal)."""

    def __init__(self, total: int | None, desc: str, unit: str = "img") -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False, disable=None)
        self._last = 0

    def __call__(self, done: int) -> None:
        self.bar.update(done - self._last)
        self._last = done

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Checks of a ``train`` run that need no torch: the model name and the run folder.

The CLI runs them before it imports the zoo (torch, timm and every method take seconds to import, tens
of seconds under load), so a typo or an existing run is refused at once. The model names are read from
the method folders' sources (``@register_model("name")``); ``tests/zoo/test_discovery.py`` checks that
they are exactly the registry's.
"""

from __future__ import annotations

import re
from pathlib import Path

from adsynth.errors import ConfigError, OutputExistsError
from adsynth.registry import unknown_name_error

#: the checkpoint files of a run folder (re-exported by :mod:`adsynth.zoo.checkpoint`)
MODEL_FILE = "model.pt"
LAST_FILE = "last.pt"

_REGISTER = re.compile(r'@register_model\(\s*"([^"]+)"\s*\)')


def model_names() -> list[str]:
    """The names the method folders register, found in their sources without importing them."""
    from adsynth.zoo import method_packages

    root = Path(__file__).parent / "methods"
    names: set[str] = set()
    for package in method_packages():
        for source in (root / package).rglob("*.py"):
            names.update(_REGISTER.findall(source.read_text(encoding="utf-8")))
    return sorted(names)


def check_model_name(name: str) -> None:
    """Raise the registry's :class:`ConfigError` (closest names, valid names) for an unknown model."""
    names = model_names()
    if name not in names:
        raise unknown_name_error("model", name, names)


def check_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a run folder that holds a run (unless ``overwrite``), or one to resume without ``last.pt``.

    Raises:
        ConfigError: resuming without a ``last.pt``.
        OutputExistsError: ``model.pt`` exists and neither ``resume`` nor ``overwrite`` is set.
    """
    if resume:
        if not (out / LAST_FILE).is_file():
            if (out / MODEL_FILE).is_file():
                raise ConfigError(
                    f"cannot resume: {out / LAST_FILE} not found ({out} holds a finished run with "
                    f"{MODEL_FILE} only, as a fit-only model leaves it; pass --overwrite to fit again)"
                )
            raise ConfigError(f"cannot resume: {out / LAST_FILE} not found")
    elif (out / MODEL_FILE).exists() and not overwrite:
        raise OutputExistsError(
            f"{out / MODEL_FILE} exists (pass --overwrite to replace the run, --resume to continue it)"
        )

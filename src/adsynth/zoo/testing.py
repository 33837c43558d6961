"""The settings of each model's tests, kept in its method folder (``zoo/methods/<method>/testing.py``).

The registry-wide tests (the contract tests, resume, ONNX export, the learning test) read them through
:func:`settings_for`, so adding a method is adding its folder: no test file lists methods. Nothing in the
package imports this module or a ``testing.py`` (``tests/test_architecture.py`` checks it); only tests do.

A folder's ``testing.py`` is plain data, without imports: one ``SETTINGS`` dict with an entry for every
model the folder registers, each with the four keys of :class:`Settings` (all four are required, so a new
method says what each test should do)::

    SETTINGS = {
        "ae": {
            "contract": {"latent_dim": 16},
            "resume": {"latent_dim": 4},
            "not_exportable": None,
            "learning": {
                "blobs": {"epochs": 20, "train": {"lr": 1e-3}, "min_image_auroc": 0.8},
            },
        },
    }

Example:
    >>> from adsynth.zoo.testing import settings_for
    >>> settings_for("ae").resume
    {'latent_dim': 4}
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any

#: the module of a method folder that holds its test settings
MODULE = "testing"


class SettingsError(LookupError):
    """A model's test settings are missing or malformed (the message names the file)."""


@dataclass(frozen=True)
class LearningCase:
    """One run of the learning test: train through the trainer on a small task, predict, score.

    Attributes:
        epochs: training epochs.
        train: the other ``TrainConfig`` keywords: ``hparams``, ``lr``, ``batch_size``, ``log_every``,
            ``recipe`` (a recipe name), ...; the learning test's own defaults are 64 px, batch 8, seed 0.
        task: ``"blobs"`` (48 gray brick crops of 64 px; the test split holds 16 others and 16 with a
            painted ellipse, ``tests/zoo/zoo_helpers.blob_task``) or ``"colour"`` (the same crops through
            a colour map, the defect a stain of another hue, ``zoo_helpers.colour_task``).
        min_image_auroc: the image AUROC must be at least this (None: not asserted).
        min_pixel_auroc: the pixel AUROC must be at least this (None: not asserted).
        loss_falls: the logged training loss fell from the first to the last logged step (log every
            step: ``"log_every": 1`` in ``train``).
        max_map_ratio: the mean anomaly map over the normal test images, trained ÷ untrained (same seed and
            hyper-parameters), is at most this: the network learnt the normal texture (None: not asserted).
        logged: metric names the run must have logged (a phase of training that must have run).
        metrics_below: metric name → a bound its last logged value must be under.
    """

    epochs: int
    train: dict[str, Any] = field(default_factory=dict)
    task: str = "blobs"
    min_image_auroc: float | None = None
    min_pixel_auroc: float | None = None
    loss_falls: bool = False
    max_map_ratio: float | None = None
    logged: tuple[str, ...] = ()
    metrics_below: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """The test settings of one registered model.

    Attributes:
        model: the registered name.
        contract: hyper-parameters that keep the model small for the 64 px contract and export tests
            (the defaults are the papers'); ``{}`` keeps the defaults. The tests also swap a backbone
            for an untrained ResNet-18.
        resume: the smallest hyper-parameters the model accepts at 32 px, for the resume test (two
            epochs of two steps); required for a gradient-trained model, None for a fit-only one.
        not_exportable: None when the model exports to ONNX; else why it does not (docs/DEPLOY.md
            repeats the reason). A model that starts or stops exporting fails the export test.
        learning: case name → :class:`LearningCase`, the runs of the learning test (``{}``: none; the
            method's behaviour is then tested elsewhere, which its ``testing.py`` should say).
    """

    model: str
    contract: dict[str, Any]
    resume: dict[str, Any] | None
    not_exportable: str | None
    learning: dict[str, LearningCase]


_KEYS = tuple(f.name for f in dataclasses.fields(Settings) if f.name != "model")
_CASE_KEYS = tuple(f.name for f in dataclasses.fields(LearningCase))


def method_folder(name: str) -> str:
    """The method folder (a sub-package of ``adsynth.zoo.methods``) of the class registered as ``name``.

    Raises:
        ConfigError: ``name`` is not registered (the registry's message, with the closest names).
    """
    import adsynth.zoo as zoo
    from adsynth.zoo.base import MODELS

    zoo.load_models()
    module = MODELS.get(name).__module__
    folder = module.removeprefix(zoo.METHODS_PACKAGE + ".").split(".")[0]
    if not module.startswith(zoo.METHODS_PACKAGE + ".") or folder not in zoo.method_packages():
        raise SettingsError(f"model {name!r} is defined in {module}, not in a method folder of the zoo")
    return folder


def folder_settings(folder: str) -> dict[str, dict[str, Any]]:
    """The ``SETTINGS`` dict of ``zoo/methods/<folder>/testing.py``; every name in it is registered there.

    Raises:
        SettingsError: the file is missing, has no ``SETTINGS`` dict, or names a model that the folder
            does not register.
    """
    import adsynth.zoo as zoo
    from adsynth.zoo.base import MODELS

    where = f"zoo/methods/{folder}/{MODULE}.py"
    target = f"{zoo.METHODS_PACKAGE}.{folder}.{MODULE}"
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError as e:
        if e.name != target:
            raise
        raise SettingsError(f"{where} is missing: every method folder holds its test settings") from None
    table = getattr(module, "SETTINGS", None)
    if not isinstance(table, dict):
        raise SettingsError(f"{where} has no SETTINGS dict (model name -> settings)")
    zoo.load_models()
    for name in table:
        if name not in MODELS or method_folder(name) != folder:
            raise SettingsError(f"{where} lists {name!r}, which zoo/methods/{folder}/ does not register")
    return table


def settings_for(name: str) -> Settings:
    """The test settings of the model registered as ``name``, read from its method folder.

    Raises:
        ConfigError: ``name`` is not registered.
        SettingsError: the folder's ``testing.py`` is missing, has no entry for ``name``, or an entry is
            malformed (a missing or unknown key, a learning case without an assertion).
    """
    folder = method_folder(name)
    where = f"zoo/methods/{folder}/{MODULE}.py"
    entry = folder_settings(folder).get(name)
    if not isinstance(entry, dict):
        raise SettingsError(f"{where} has no settings for model {name!r} (SETTINGS[{name!r}])")
    missing, unknown = set(_KEYS) - set(entry), set(entry) - set(_KEYS)
    if missing or unknown:
        raise SettingsError(
            f"{where}: SETTINGS[{name!r}] needs exactly the keys {', '.join(_KEYS)}"
            + (f"; missing {', '.join(sorted(missing))}" if missing else "")
            + (f"; unknown {', '.join(sorted(unknown))}" if unknown else "")
        )
    cases = {}
    for case, spec in (entry["learning"] or {}).items():
        cases[case] = _case(spec, f"{where}: SETTINGS[{name!r}]['learning'][{case!r}]")
    return Settings(
        model=name,
        contract=dict(entry["contract"]),
        resume=None if entry["resume"] is None else dict(entry["resume"]),
        not_exportable=entry["not_exportable"],
        learning=cases,
    )


def _case(spec: dict[str, Any], where: str) -> LearningCase:
    unknown = set(spec) - set(_CASE_KEYS)
    if unknown or "epochs" not in spec:
        raise SettingsError(
            f"{where} needs 'epochs' and takes only {', '.join(_CASE_KEYS)}"
            + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else "")
        )
    case = LearningCase(**{**spec, "logged": tuple(spec.get("logged", ()))})
    checks = (case.min_image_auroc, case.min_pixel_auroc, case.max_map_ratio)
    if all(c is None for c in checks) and not (case.loss_falls or case.logged or case.metrics_below):
        raise SettingsError(f"{where} asserts nothing")
    return case


__all__ = ["LearningCase", "Settings", "SettingsError", "folder_settings", "method_folder", "settings_for"]

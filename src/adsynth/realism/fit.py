"""Fit a recipe to a line's real defects: an Optuna TPE search that minimises the realism score.

Each trial draws the base recipe's searchable parameters (:mod:`~adsynth.realism.space`), makes the
synthetic regions with the same images and seeds as every other trial, and scores them against the
real defects (:class:`~adsynth.realism.score.RealismScorer`, whose real-region features are computed
once); the objective is the score averaged over the real defect types (or one type). Trial 0 is the
base recipe itself, so the best trial is never worse than the base.

The search is sequential and seeded: trial *k* is proposed by ``TPESampler(seed=...)`` seeded from
``(seed, k)``, so the same seed gives the same trials, and a study continued with ``resume`` proposes
what an uninterrupted one would. The study lives in an SQLite file beside the output
(``fitted.yaml.study.db``) with the settings it was started with; ``resume`` refuses other settings.

Example:
    >>> res = fit_recipe("line7.h5", "draem", "fitted.yaml", trials=50, seed=0)  # doctest: +SKIP
    >>> res.best_score <= res.base_score  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adsynth import __version__
from adsynth.errors import AdsynthError, ConfigError, OutputExistsError
from adsynth.fsutil import atomic_write_bytes
from adsynth.realism.score import RealismScorer
from adsynth.realism.space import (
    Entry,
    apply_point,
    base_point,
    include_base,
    narrow,
    recipe_space,
    suggest,
)
from adsynth.synth import GENERATORS, load_generators
from adsynth.synth.recipes import RECIPES, load_recipe, recipe_from_dict

STUDY_SUFFIX = ".study.db"
STUDY_NAME = "adsynth-recipe-fit"


@dataclass
class FitResult:
    """What :func:`fit_recipe` did."""

    out: Path
    study: Path
    base_score: float | None
    best_score: float
    best_trial: int
    n_trials: int
    n_new: int
    values: dict[str, Any]
    defect_types: list[str]
    seconds: float


def study_path(out: str | os.PathLike) -> Path:
    p = Path(out)
    return p.with_name(p.name + STUDY_SUFFIX)


def raw_spec(base: str) -> dict[str, Any]:
    """The base recipe's own mapping (a preset's entry or the YAML file's), as its author wrote it."""
    if base.endswith((".yaml", ".yml")) or os.sep in base:
        import yaml

        spec = yaml.safe_load(Path(base).read_text(encoding="utf-8"))
        spec.setdefault("name", Path(base).stem)
        return spec
    return dict(RECIPES.get(base))


def load_space(space: str | os.PathLike | Mapping[str, Any] | None, entries: list[Entry]) -> list[Entry]:
    """The searched entries: all of ``entries``, or those a mapping / YAML file narrows."""
    if space is None:
        return entries
    if not isinstance(space, Mapping):
        import yaml

        p = Path(space)
        if not p.is_file():
            raise ConfigError(f"search space file {p} not found")
        try:
            space = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
    return narrow(entries, space)  # type: ignore[arg-type]


def _signature(entries: list[Entry], **settings: Any) -> str:
    dims = {e.key: [e.dim.kind, e.dim.low, e.dim.high, list(e.dim.choices)] for e in entries}
    return json.dumps({**settings, "space": dims}, sort_keys=True, default=str)


def _trial_seed(seed: int, k: int) -> int:
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def _check_outputs(out: Path, study: Path, resume: bool, overwrite: bool) -> None:
    if not out.name.endswith((".yaml", ".yml")):
        raise ConfigError(f"expected the output to be a .yaml file (what `--recipe` takes), got {out}")
    if not out.parent.is_dir():
        raise ConfigError(f"output folder {out.parent} does not exist")
    if out.is_dir():
        raise OutputExistsError(f"{out} is a directory")
    if resume and study.exists():
        return
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} already exists (pass --overwrite to replace it)")
    if study.exists() and not overwrite:
        raise OutputExistsError(
            f"{study} exists (pass --resume to continue that study, or --overwrite to start again)"
        )


def fit_recipe(
    data: str | os.PathLike,
    base: str,
    out: str | os.PathLike,
    *,
    trials: int = 50,
    seed: int = 0,
    resume: bool = False,
    overwrite: bool = False,
    defect_type: str | None = None,
    space: str | os.PathLike | Mapping[str, Any] | None = None,
    log: Callable[[str], Any] | None = None,
    **scorer_options: Any,
) -> FitResult:
    """Search ``base``'s parameters for the recipe whose defects score closest to the real ones.

    Args:
        data: the dataset with real defects (see :class:`~adsynth.realism.score.RealismScorer`).
        base: a preset name or a YAML recipe.
        out: the recipe YAML to write (its study: ``<out>.study.db``).
        trials: total trials of the study (a resumed study runs the missing ones).
        seed: seeds the sampler and the synthesis.
        resume: continue the study beside ``out``.
        overwrite: replace ``out`` and start the study again.
        defect_type: fit to this real defect type only (default: the mean over every type).
        space: narrowed search space (mapping or YAML file, see :func:`~adsynth.realism.space.narrow`).
        log: called with one line per trial.
        **scorer_options: ``image_size``, ``samples``, ``real_split``, ``textures``, ``device``.

    Raises:
        ConfigError: invalid base recipe, space, trials or output name (before any work).
        OutputExistsError: ``out`` or its study exists without ``resume`` / ``overwrite``.
        DataError: no real defects.
    """
    t0 = time.perf_counter()
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"expected `trials` to be a positive int, got {trials!r}")
    out, study_file = Path(out), study_path(out)
    _check_outputs(out, study_file, resume, overwrite)
    textures = scorer_options.get("textures")
    full = load_recipe(base, textures=textures).spec  # validates the base
    spec = raw_spec(base)
    entries = load_space(space, include_base(recipe_space(spec), full))
    if not entries:
        gens = ", ".join(g["name"] for g in spec["generators"])
        raise ConfigError(f"recipe {base!r} has nothing to search (its generators, {gens}, declare no space)")
    scorer = RealismScorer(
        data, seed=seed, defect_types=[defect_type] if defect_type else None, **scorer_options
    )
    types = scorer.defect_types
    settings = {
        "base": base,
        "data": str(Path(data).resolve()),
        "seed": seed,
        "samples": scorer.samples,
        "image_size": scorer.size[0],
        "real_split": scorer.real_split,
        "defect_types": types,
        "textures": textures,
    }
    signature = _signature(entries, **settings)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if overwrite and not resume and study_file.exists():
        study_file.unlink()
    fresh = not study_file.exists()
    study = optuna.create_study(
        study_name=STUDY_NAME,
        storage=f"sqlite:///{study_file}",
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=_trial_seed(seed, 0)),
    )
    if study.user_attrs.get("signature", signature) != signature:
        raise ConfigError(
            f"{study_file} was started with other settings (base, data, seed, samples, size, defect types "
            "or space); run with the same ones, or pass --overwrite to start again"
        )
    study.set_user_attr("signature", signature)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)  # left by a killed run
    if fresh or not study.trials:
        study.enqueue_trial(base_point(entries, full), user_attrs={"base": True})

    def objective(trial: Any) -> float:
        values = suggest(trial, entries)
        trial_spec = apply_point(spec, entries, values)
        try:
            recipe = recipe_from_dict(trial_spec, f"trial {trial.number}", textures)
            rows = scorer.score(recipe)
        except AdsynthError as e:  # a combination the generator refuses, or one that makes no defect
            trial.set_user_attr("error", str(e).splitlines()[0])
            raise optuna.TrialPruned() from None
        scores = {r.defect_type: r.score for r in rows}
        trial.set_user_attr("scores", scores)
        value = float(np.mean(list(scores.values())))
        if not math.isfinite(value):
            trial.set_user_attr("error", rows[0].note)
            raise optuna.TrialPruned()
        return value

    done_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    n_done = len(study.get_trials(deepcopy=False, states=done_states))
    n_new = 0
    while n_done < trials:
        study.sampler = optuna.samplers.TPESampler(seed=_trial_seed(seed, n_done))
        study.optimize(objective, n_trials=1)
        n_done, n_new = n_done + 1, n_new + 1
        if log is not None:
            last = study.trials[-1]
            err = last.user_attrs.get("error")
            shown = f"{last.value:.4f}" if last.value is not None else f"pruned ({err})"
            best = _best(study)
            tail = f" (best {best.value:.4f}, trial {best.number})" if best is not None else ""
            log(f"trial {n_done}/{trials}: {shown}{tail}")
    best = _best(study)
    if best is None:
        errors = {t.user_attrs.get("error") for t in study.trials if t.user_attrs.get("error")}
        raise ConfigError(f"no trial made defects to score ({'; '.join(sorted(errors)) or 'no trial ran'})")
    values = suggest(optuna.trial.FixedTrial(best.params), entries)
    base_trial = next((t for t in study.trials if t.user_attrs.get("base")), None)
    base_score = base_trial.value if base_trial is not None else None
    fitted = apply_point(spec, entries, values)
    result = FitResult(out, study_file, base_score, float(best.value), best.number, n_done, n_new,
                       values, types, 0.0)  # fmt: skip
    _write_yaml(out, fitted, result, settings, scorer.real_counts(), entries)
    result.seconds = time.perf_counter() - t0
    return result


def _best(study: Any) -> Any:
    complete = [t for t in study.trials if t.value is not None]
    return min(complete, key=lambda t: (t.value, t.number)) if complete else None


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, np.generic):
        return _plain(x.item())
    return x


def _write_yaml(
    out: Path,
    spec: dict[str, Any],
    r: FitResult,
    settings: dict[str, Any],
    counts: dict[str, int],
    entries: list[Entry],
) -> None:
    import yaml

    body = {
        "name": out.stem,
        "description": f"{settings['base']} fitted to the real defects of {Path(settings['data']).name}",
        "normal_fraction": spec.get("normal_fraction", 0.0),
        "generators": [
            {"name": g["name"], "weight": g.get("weight", 1.0), "params": g.get("params") or {}}
            for g in spec["generators"]
        ],
    }
    if settings["textures"]:  # the fit's textures, so that `generate` draws from the same ones
        load_generators()
        for g in body["generators"]:
            if "textures" in (GENERATORS.params(g["name"]) or {}):
                g["params"].setdefault("textures", settings["textures"])
    body = _plain(body)
    recipe_from_dict(body, str(out), settings["textures"])  # what `generate --recipe` will do
    base = "no base trial" if r.base_score is None else f"base {r.base_score:.4f}"
    types = ", ".join(f"{t} ({counts[t]})" for t in r.defect_types)
    header = [
        f"# Fitted by `adsynth recipes fit` (adsynth {__version__}): base recipe {settings['base']!r},",
        f"# {r.n_trials} trials, seed {settings['seed']}, data {settings['data']}",
        f"# realism score (mean over {types}; lower is more alike): best {r.best_score:.4f} "
        f"(trial {r.best_trial}), {base}",
        f"# {settings['samples']} synthetic regions per trial at {settings['image_size']} px, real defects "
        f"from the {settings['real_split']} split",
        f"# searched: {', '.join(e.key for e in entries)}",
        f"# study: {r.study.name} (`--resume --trials N` continues it)",
    ]
    text = "\n".join(header) + "\n" + yaml.safe_dump(body, sort_keys=False, default_flow_style=None)
    atomic_write_bytes(out, text.encode("utf-8"))

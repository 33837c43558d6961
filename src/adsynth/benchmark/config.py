"""A benchmark's configuration: datasets × models × recipes × seeds, validated before any cell runs.

The YAML (read with ``yaml.safe_load``)::

    datasets:
      mt: /tmp/mt/mt128.h5                       # an adsynth .h5: train on its normal `train` images
      mt-synth: {train: /tmp/mt/mt128.h5, test: synth_test.h5}   # a held-out synthetic test set
      parts: {folder: photos/, import: {size: 128}}              # a folder, imported once into out/
      mt-few:                      # a learning curve over K real defects per type in the training split:
        train: /tmp/mt/mt128.h5    # datasets mt-few-k<K>-f<F>, written once into out/datasets/ by
        fewshot: {k: [0, 1, 2, 5], folds: 3, pool: 5, seed: 0}   # adsynth.data.fewshot.split_defects
    models:
      draem: {hparams: {base_width: 16}, epochs: 2}
      ssl-ae: {hparams: {base_width: 16}}
      draem-w32: {model: draem, hparams: {base_width: 32}}       # a second entry of one registry model
      padim: {}                                                  # not trained on synthetic anomalies
      ssn-real: {model: supersimplenet, real_defects: all, synthetic: false}   # real defects only
    recipes: [cutpaste-scar, draem, poisson, my_recipe.yaml]
    seeds: [0, 1]
    budget: {epochs: 1}          # or {minutes: 2}: per cell, the epochs that fit (see runner)
    image_size: 128
    batch_size: 8
    device: auto
    matrix_metrics: [pixel_auroc, aupro, image_auroc]

A model that ``uses_synthetic`` (registry flag) runs once per recipe; any other model once per seed with
no recipe (its ``recipes:`` key can ask for some). Every name is checked against the registries, every
hyper-parameter with ``MODELS.check_params`` and every option by :class:`~adsynth.zoo.trainer.TrainConfig`:
an unknown model, recipe, key or parameter is a :class:`~adsynth.errors.ConfigError` naming it.

A model's ``real_defects`` (``none``, ``all``, ``labels-only``) and ``synthetic`` (true) go to
:class:`~adsynth.zoo.trainer.TrainConfig`; ``synthetic: false`` drops the recipes. On the datasets of a
``fewshot`` entry a model without real defects runs only at K = 0 (its training data do not depend on K,
and one fold's test set is the same for every K), a model with real defects only at K >= 1; the report
``fewshot.md`` (:mod:`adsynth.benchmark.fewshot`) draws the learning curves.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from adsynth.benchmark.checks import check_resources
from adsynth.benchmark.fewshot import check_k_rule, expand, runs_on
from adsynth.benchmark.layout import recipe_identity
from adsynth.errors import ConfigError

#: the label of "no recipe" (models that do not train on synthetic anomalies)
NO_RECIPE = "none"
DEFAULT_MATRIX_METRICS = ("pixel_auroc", "aupro", "image_auroc")
TOP_KEYS = {
    "datasets", "models", "recipes", "seeds", "budget", "image_size", "batch_size", "lr", "device",
    "workers", "textures", "matrix_metrics", "pro_limit", "plots",
}  # fmt: skip
MODEL_KEYS = {
    "model", "hparams", "epochs", "minutes", "batch_size", "lr", "image_size", "recipes", "real_defects",
    "synthetic",
}  # fmt: skip
DATASET_KEYS = {"train", "test", "folder", "import", "split", "subset", "fewshot"}
SUBSET_KEYS = {"train", "test_per_type", "seed"}
#: fields added after the first benchmarks: left out of a cell's spec at their default, so that the
#: cells of an existing benchmark keep their hashes (``--resume`` keeps them)
_LATER_FIELDS = {"fewshot": None, "group": None, "real_defects": "none", "synthetic": True}
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    train: str  # path of the training .h5 (or the import target when `folder` is set)
    test: str
    split: str = "test"
    folder: str | None = None
    import_args: dict[str, Any] = field(default_factory=dict)
    #: a seeded subset written to ``out/datasets/<name>.h5`` first: ``train`` normal images, at most
    #: ``test_per_type`` test images of each defect type (and of the normal ones); CPU-sized runs
    subset: dict[str, int] | None = None
    source: str | None = None  # the file the subset (or the fewshot selection) is drawn from
    #: ``{k, fold, pool, seed}`` of :func:`adsynth.data.fewshot.split_defects`, written to
    #: ``out/datasets/<name>.h5`` first (one of a ``fewshot`` entry's datasets)
    fewshot: dict[str, int] | None = None
    group: str | None = None  # the ``fewshot`` entry this dataset was expanded from


@dataclass(frozen=True)
class ModelSpec:
    label: str
    model: str  # registry name
    hparams: dict[str, Any]
    epochs: int | None
    minutes: float | None
    batch_size: int | None
    lr: float | None
    image_size: int | None
    recipes: tuple[str, ...]
    uses_synthetic: bool
    real_defects: str = "none"
    synthetic: bool = True


def _spec(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in asdict(obj).items() if not (k in _LATER_FIELDS and v == _LATER_FIELDS[k])}


def _dataset_spec(d: DatasetSpec) -> dict[str, Any]:
    """A dataset's part of a cell spec; one the benchmark writes into ``OUT/datasets/`` is named by its file
    name, so that shards run into different ``--out`` folders give a cell the same hash."""
    spec = _spec(d)
    for key in ("train", "test") if d.folder or d.subset or d.fewshot else ():
        if isinstance(spec.get(key), str) and Path(spec[key]).parent.name == "datasets":
            spec[key] = f"OUT/datasets/{Path(spec[key]).name}"
    return spec


@dataclass(frozen=True)
class Cell:
    """One (dataset, model, recipe, seed): trained, predicted and evaluated in ``cells/<id>/``."""

    dataset: str
    model: str  # the model entry's label
    recipe: str  # recipe label or NO_RECIPE
    seed: int

    @property
    def id(self) -> str:
        return f"{self.dataset}--{self.model}--{self.recipe}--s{self.seed}"


@dataclass
class BenchConfig:
    datasets: list[DatasetSpec]
    models: list[ModelSpec]
    recipes: dict[str, str]  # label -> name or YAML path
    seeds: list[int]
    epochs: int | None = None
    minutes: float | None = None
    image_size: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    device: str = "auto"
    workers: int = 0
    textures: str | None = None
    matrix_metrics: tuple[str, ...] = DEFAULT_MATRIX_METRICS
    pro_limit: float = 0.3
    plots: bool = True  # each cell's report with ROC/PRO curves and overlays (False: metrics files only)
    raw: dict[str, Any] = field(default_factory=dict)

    def model(self, label: str) -> ModelSpec:
        return next(m for m in self.models if m.label == label)

    def dataset(self, name: str) -> DatasetSpec:
        return next(d for d in self.datasets if d.name == name)

    def cells(self) -> list[Cell]:
        """Every cell, in a fixed order (datasets, models, recipes, seeds as listed; see :func:`runs_on`)."""
        return [
            Cell(d.name, m.label, r, s)
            for d in self.datasets
            for m in self.models
            if runs_on(m, d)
            for r in m.recipes
            for s in self.seeds
        ]

    def cell_spec(self, cell: Cell) -> dict[str, Any]:
        """Everything that determines a cell's result (its hash decides whether a finished cell is kept)."""
        m, d = self.model(cell.model), self.dataset(cell.dataset)
        return {
            "dataset": _dataset_spec(d),
            "model": {k: v for k, v in _spec(m).items() if k not in ("recipes", "label")},
            "recipe": None if cell.recipe == NO_RECIPE else recipe_identity(self.recipes[cell.recipe]),
            "seed": cell.seed,
            "epochs": m.epochs if m.epochs is not None else self.epochs,
            "minutes": m.minutes if m.minutes is not None else self.minutes,
            "image_size": m.image_size or self.image_size,
            "batch_size": m.batch_size or self.batch_size,
            "lr": m.lr or self.lr,
            "textures": self.textures,
            "pro_limit": self.pro_limit,
        }

    def cell_hash(self, cell: Cell) -> str:
        return _hash(self.cell_spec(cell))

    def hash(self) -> str:
        """Hash of what determines the results (device and workers excluded: shards may differ)."""
        return _hash({c.id: self.cell_spec(c) for c in self.cells()} | {"metrics": self.matrix_metrics})

    def to_dict(self) -> dict[str, Any]:
        """The manifest ``benchmark.json``: the config, its hash, every cell's hash (all ``merge`` needs),
        and with ``fewshot`` datasets, each one's entry, K and fold (what the learning-curve report needs)."""
        manifest = {
            "format": "adsynth-benchmark",
            "config": self.raw,
            "config_hash": self.hash(),
            "datasets": [d.name for d in self.datasets],
            "matrix_metrics": list(self.matrix_metrics),
            "cells": {c.id: self.cell_hash(c) for c in self.cells()},
        }
        fewshot = {
            d.name: {"group": d.group, "k": d.fewshot["k"], "fold": d.fewshot["fold"]}
            for d in self.datasets
            if d.fewshot is not None
        }
        if fewshot:
            manifest["fewshot"] = fewshot
        return manifest


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _unknown(keys, valid, where: str) -> None:
    bad = sorted(set(keys) - set(valid))
    if bad:
        raise ConfigError(f"{where}: unknown key {bad[0]!r} (valid: {', '.join(sorted(valid))})")


def _label(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _LABEL.match(name) or "--" in name:
        raise ConfigError(f"expected {what} to be a name of letters, digits, '.', '_', '-', got {name!r}")
    return name


def _list(value: Any, what: str) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise ConfigError(f"expected `{what}` to be a list, got {value!r}")


def _positive(value: Any, what: str, kind=int, allow_none: bool = True):
    if value is None and allow_none:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if not ok or (kind is int and int(value) != value):
        raise ConfigError(f"expected `{what}` to be a positive {kind.__name__}, got {value!r}")
    return kind(value)


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"expected `{what}` to be true or false, got {value!r}")
    return value


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """The YAML file as a dict (``yaml.safe_load``)."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"benchmark config {p} not found")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping with datasets, models, recipes, seeds")
    raw["_base"] = str(p.parent)
    return raw


def _path(value: Any, base: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"expected {what} to be a path, got {value!r}")
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else Path(base) / p)


def _datasets(raw: Any, base: str, out: str | None) -> list[DatasetSpec]:
    if isinstance(raw, (list, tuple, str)):
        raw = {Path(str(p)).stem: p for p in _list(raw, "datasets")}
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("expected `datasets` to name at least one dataset")
    specs = []
    for name, entry in raw.items():
        _label(name, "a dataset name")
        if isinstance(entry, str):
            is_dir = Path(_path(entry, base, f"dataset {name!r}")).is_dir()
            entry = {"folder": entry} if is_dir else {"train": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f"dataset {name!r}: expected a path or a mapping, got {entry!r}")
        _unknown(entry, DATASET_KEYS, f"dataset {name!r}")
        args = entry.get("import") or {}
        if not isinstance(args, dict):
            raise ConfigError(f"dataset {name!r}: expected `import` to be a mapping of import options")
        if "folder" in entry:
            from adsynth.data.importers import import_dataset
            from adsynth.registry import factory_params

            folder = _path(entry["folder"], base, f"dataset {name!r} folder")
            if not Path(folder).is_dir():
                raise ConfigError(f"dataset {name!r}: folder {folder} not found")
            valid = set(factory_params(import_dataset) or {}) - {"input", "out", "overwrite", "progress"}
            _unknown(args, valid, f"dataset {name!r} import")
            train = str(Path(out or ".") / "datasets" / f"{name}.h5")
        else:
            if "train" not in entry:
                raise ConfigError(f"dataset {name!r}: expected `train` (an .h5 file) or `folder`")
            folder, train = None, _path(entry["train"], base, f"dataset {name!r} train")
        test = _path(entry["test"], base, f"dataset {name!r} test") if "test" in entry else train
        subset, source = entry.get("subset"), None
        if subset is not None:
            if not isinstance(subset, dict) or folder or "test" in entry:
                raise ConfigError(
                    f"dataset {name!r}: expected `subset` as a mapping, with `train` and no `test`"
                )
            _unknown(subset, SUBSET_KEYS, f"dataset {name!r} subset")
            subset = {
                k: _positive(subset.get(k), f"dataset {name!r} subset.{k}")
                for k in ("train", "test_per_type")
            }
            subset["seed"] = int(entry["subset"].get("seed", 0))
            source, train = train, str(Path(out or ".") / "datasets" / f"{name}.h5")
            test = train
        split = entry.get("split", "test")
        from adsynth.data import format as F

        if split not in F.SPLITS:
            raise ConfigError(f"dataset {name!r}: unknown split {split!r} (valid: {', '.join(F.SPLITS)})")
        if "fewshot" in entry:
            if folder or subset is not None or "test" in entry or split != "test":
                raise ConfigError(
                    f"dataset {name!r}: expected `fewshot` with `train` (an .h5 file) and no `test`, "
                    "`folder`, `subset` or `split`"
                )
            for sel in expand(name, entry["fewshot"]):
                label = f"{name}-k{sel['k']}-f{sel['fold']}"
                path = str(Path(out or ".") / "datasets" / f"{label}.h5")
                specs.append(DatasetSpec(label, path, path, split, source=train, fewshot=sel, group=name))
            continue
        specs.append(DatasetSpec(name, train, test, split, folder, dict(args), subset, source))
    names = [d.name for d in specs]
    for n in names:
        if names.count(n) > 1:
            raise ConfigError(f"dataset name {n!r} is used twice (a `fewshot` entry names <name>-k<K>-f<F>)")
    return specs


def _recipes(raw: Any, base: str) -> dict[str, str]:
    from adsynth.synth.recipes import RECIPES

    out: dict[str, str] = {}
    for r in _list(raw if raw is not None else [], "recipes"):
        if isinstance(r, dict) and len(r) == 1:  # {label: path-or-name}
            ((label, src),) = r.items()
        elif isinstance(r, str):
            src = r
            label = Path(r).stem if r.endswith((".yaml", ".yml")) or os.sep in r else r
        else:
            raise ConfigError(f"expected a recipe name, a YAML path or {{label: path}}, got {r!r}")
        _label(label, "a recipe label")
        if label == NO_RECIPE or label in out:
            raise ConfigError(f"recipe label {label!r} is {'reserved' if label == NO_RECIPE else 'repeated'}")
        if isinstance(src, str) and (src.endswith((".yaml", ".yml")) or os.sep in src):
            src = _path(src, base, f"recipe {label!r}")
        else:
            RECIPES.get(str(src))  # unknown name: ConfigError with the closest ones
        out[label] = str(src)
    return out


def _models(raw: Any, cfg_recipes: dict[str, str]) -> list[ModelSpec]:
    from adsynth.zoo import load_models
    from adsynth.zoo.base import MODELS
    from adsynth.zoo.training.config import REAL_DEFECT_MODES

    load_models()
    if isinstance(raw, (list, tuple, str)):
        raw = {m: {} for m in _list(raw, "models")}
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("expected `models` to name at least one model")
    specs = []
    for label, entry in raw.items():
        _label(label, "a model label")
        entry = entry or {}
        if not isinstance(entry, dict):
            raise ConfigError(f"model {label!r}: expected a mapping of settings, got {entry!r}")
        _unknown(entry, MODEL_KEYS, f"model {label!r}")
        name = entry.get("model", label)
        cls = MODELS.get(name)
        hp = entry.get("hparams") or {}
        if not isinstance(hp, dict):
            raise ConfigError(f"model {label!r}: expected `hparams` to be a mapping")
        MODELS.check_params(name, hp, where=None if label == name else f"model {label!r}")
        real = entry.get("real_defects", "none")
        if real not in REAL_DEFECT_MODES:
            raise ConfigError(
                f"model {label!r}: expected `real_defects` to be one of {', '.join(REAL_DEFECT_MODES)}, "
                f"got {real!r}"
            )
        use_synth = _bool(entry.get("synthetic", True), f"models.{label}.synthetic")
        synthetic = bool(cls.uses_synthetic) and use_synth
        if not use_synth and "recipes" in entry:
            raise ConfigError(
                f"model {label!r}: `synthetic: false` trains without recipes; leave out `recipes`"
            )
        if "recipes" in entry:
            recipes = tuple(_list(entry["recipes"], f"models.{label}.recipes"))
            for r in recipes:
                if r != NO_RECIPE and r not in cfg_recipes:
                    raise ConfigError(f"model {label!r}: recipe {r!r} is not in `recipes`")
        elif synthetic:
            recipes = tuple(cfg_recipes) or (NO_RECIPE,)
        else:
            recipes = (NO_RECIPE,)
        specs.append(
            ModelSpec(
                label,
                name,
                dict(hp),
                _positive(entry.get("epochs"), f"models.{label}.epochs"),
                _positive(entry.get("minutes"), f"models.{label}.minutes", float),
                _positive(entry.get("batch_size"), f"models.{label}.batch_size"),
                _positive(entry.get("lr"), f"models.{label}.lr", float),
                _positive(entry.get("image_size"), f"models.{label}.image_size"),
                recipes,
                synthetic,
                real,
                use_synth,
            )  # fmt: skip
        )
    return specs


def build_config(raw: dict[str, Any], out: str | os.PathLike | None = None) -> BenchConfig:
    """Check ``raw`` (a parsed YAML or the CLI flags) completely and build the :class:`BenchConfig`.

    Raises:
        ConfigError: the first problem, naming the key, model, recipe or parameter.
    """
    from adsynth.evaluate.report import METRICS

    raw = dict(raw)
    base = raw.pop("_base", ".")
    _unknown(raw, TOP_KEYS, "benchmark config")
    for key in ("datasets", "models"):
        if not raw.get(key):
            raise ConfigError(f"benchmark config: expected `{key}`")
    recipes = _recipes(raw.get("recipes"), base)
    models = _models(raw["models"], recipes)
    datasets = _datasets(raw["datasets"], base, None if out is None else str(out))
    seeds = [s for s in _list(raw.get("seeds", [0]), "seeds")]
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ConfigError(f"expected every seed to be an int >= 0, got {s!r}")
    if len(set(seeds)) != len(seeds) or not seeds:
        raise ConfigError(f"expected `seeds` to be distinct ints, got {seeds}")
    budget = raw.get("budget") or {}
    if not isinstance(budget, dict):
        raise ConfigError("expected `budget` to be {epochs: N} or {minutes: M}")
    _unknown(budget, {"epochs", "minutes"}, "budget")
    metrics = tuple(_list(raw.get("matrix_metrics", list(DEFAULT_MATRIX_METRICS)), "matrix_metrics"))
    for m in metrics:
        if m not in METRICS:
            raise ConfigError(f"unknown matrix metric {m!r} (valid: {', '.join(METRICS)})")
    workers = raw.get("workers", 0)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"expected `workers` to be an int >= 0, got {workers!r}")
    check_k_rule(models, datasets)
    textures = raw.get("textures")
    cfg = BenchConfig(
        datasets=datasets,
        models=models,
        recipes=recipes,
        seeds=seeds,
        epochs=_positive(budget.get("epochs"), "budget.epochs"),
        minutes=_positive(budget.get("minutes"), "budget.minutes", float),
        image_size=_positive(raw.get("image_size"), "image_size"),
        batch_size=_positive(raw.get("batch_size"), "batch_size"),
        lr=_positive(raw.get("lr"), "lr", float),
        device=str(raw.get("device", "auto")),
        workers=workers,
        textures=None if textures is None else _path(textures, base, "textures"),
        matrix_metrics=metrics,
        pro_limit=float(raw.get("pro_limit", 0.3)),
        plots=_bool(raw.get("plots", True), "plots"),
        raw={**raw, "_base": str(Path(base).resolve())},
    )
    check_resources(cfg)
    return cfg


def shard_cells(cells: list[Cell], shard: str | None) -> list[Cell]:
    """The cells of shard ``"i/n"`` (1-based): every n-th cell starting at the i-th."""
    if shard is None:
        return cells
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(shard))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ConfigError(f"expected `shard` as i/n with 1 <= i <= n, got {shard!r}")
    i, n = int(m.group(1)), int(m.group(2))
    return cells[i - 1 :: n]

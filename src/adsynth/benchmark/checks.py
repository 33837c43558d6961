"""A benchmark's resources, checked before the first cell runs: recipe files, dataset files, the sources
of ``fewshot`` datasets, the device, and every model's training options as the trainer will see them.

Called by :func:`adsynth.benchmark.config.build_config` once the configuration's names and keys are valid.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from adsynth.benchmark.fewshot import runs_on
from adsynth.errors import ConfigError

if TYPE_CHECKING:
    from adsynth.benchmark.config import BenchConfig, DatasetSpec, ModelSpec


def check_resources(cfg: BenchConfig) -> None:
    """Files, recipes, devices and every cell's training options, before the first cell runs.

    Raises:
        ConfigError: the first problem, naming the dataset, recipe or model.
    """
    from adsynth.data.reader import DatasetReader
    from adsynth.synth.recipes import load_recipe
    from adsynth.zoo.base import MODELS
    from adsynth.zoo.checkpoint import load_reconstructor
    from adsynth.zoo.device import resolve_device
    from adsynth.zoo.training.config import TrainConfig, resolve

    resolve_device(cfg.device)
    for label, src in cfg.recipes.items():
        if not src.endswith((".yaml", ".yml")):
            continue
        try:  # an ognet entry naming a checkpoint needs the zoo to load it, as the trainer does
            load_recipe(
                src,
                textures=cfg.textures,
                checkpoint_loader=functools.partial(load_reconstructor, device="cpu"),
            )
        except ConfigError as e:
            raise ConfigError(f"recipe {label!r}: {e}") from None
    fewshot_sources: dict[str, dict[str, list[str]]] = {}
    for d in cfg.datasets:
        if d.folder:
            continue
        if d.source:
            paths = [(d.source, d.split, None), (d.source, "train", "normal")]
        else:
            paths = [(d.test, d.split, None), (d.train, "train", "normal")]
        for path, split, label in paths:
            if not Path(path).is_file():
                raise ConfigError(f"dataset {d.name!r}: {path} not found")
            try:
                n = len(DatasetReader(path, split=split, label=label))
            except Exception as e:  # noqa: BLE001 - a broken file is named with its error
                raise ConfigError(f"dataset {d.name!r}: {path}: {str(e).splitlines()[0]}") from None
            if n == 0:
                raise ConfigError(f"dataset {d.name!r}: {path} has no {label or ''} {split!r} images")
        if d.fewshot is not None:
            _check_fewshot_source(d, fewshot_sources)
    cells = cfg.cells()
    for m in cfg.models:
        cls = MODELS.get(m.model)
        for r in m.recipes:
            spec = cfg.cell_spec(next(c for c in cells if (c.model, c.recipe) == (m.label, r)))
            try:
                tc = TrainConfig(
                    model=m.model, epochs=spec["epochs"], batch_size=spec["batch_size"], lr=spec["lr"],
                    image_size=spec["image_size"], hparams=m.hparams, recipe=cfg.recipes.get(r),
                    device=cfg.device, workers=cfg.workers, seed=cfg.seeds[0],
                    real_defects=m.real_defects, synthetic=m.synthetic,
                )  # fmt: skip
                resolve(tc, cls)
            except ConfigError as e:
                raise ConfigError(f"model {m.label!r}: {e}") from None
        if m.real_defects != "none":
            _check_real_defects(cfg, m)


def _check_fewshot_source(d: DatasetSpec, cache: dict[str, dict[str, list[str]]]) -> None:
    """The source of a ``fewshot`` dataset has the defective test photos its fold needs."""
    from adsynth.data.fewshot import select_train_defects
    from adsynth.data.reader import DatasetReader

    if d.source not in cache:
        r = DatasetReader(d.source, split=d.split, label="anomalous")
        by_type: dict[str, list[str]] = {}
        for n, t in zip(r.names, r.defect_types, strict=True):
            by_type.setdefault(t, []).append(n)
        cache[d.source] = by_type
    if not cache[d.source] and d.fewshot["pool"] > 0:
        raise ConfigError(f"dataset {d.group!r}: {d.source} has no defective {d.split!r} photos to move")
    try:
        select_train_defects(cache[d.source], **d.fewshot)
    except ConfigError as e:
        raise ConfigError(f"dataset {d.group!r}: {d.source}: {e}") from None


def _check_real_defects(cfg: BenchConfig, m: ModelSpec) -> None:
    """A model trained on real defects finds defective training photos in every dataset it runs on."""
    from adsynth.data.reader import DatasetReader

    for d in cfg.datasets:
        if not runs_on(m, d) or d.fewshot is not None:
            continue
        if d.subset is not None:
            has = False  # a subset keeps normal training images only
        elif d.folder:
            has = d.import_args.get("train_defects") is not None
        else:
            has = len(DatasetReader(d.train, split="train", label="anomalous")) > 0
        if not has:
            raise ConfigError(
                f"model {m.label!r} (real_defects {m.real_defects}): dataset {d.name!r} has no defective "
                "training photos (use a `fewshot` entry or `adsynth dataset split-defects`)"
            )

"""The training data of a run, built once with everything it needs.

:func:`build_training_dataset` is the one place that turns a resolved :class:`TrainConfig` and its model
into the :class:`~adsynth.zoo.data.ZooDataset` the run trains on: the split's normal images at the model's
resolution, the model's rotation, the real defective photos (``--real-defects``), the tiled windows
(``--crop``) and, for a gradient-trained model, the recipe of its synthetic anomalies. Nothing changes it
afterwards; a model's pass over the normal images before training and the fitting pass read
:meth:`~adsynth.zoo.data.ZooDataset.normal_view` (the same samples, nothing synthesised).
"""

from __future__ import annotations

import functools
from typing import Any

from adsynth.errors import ConfigError
from adsynth.zoo.data import ZooDataset, check_not_empty
from adsynth.zoo.training.config import TrainConfig


def build_training_dataset(cfg: TrainConfig, model: Any, *, gradient: bool, world: int = 1) -> ZooDataset:
    """The run's training dataset (see the module docstring).

    Args:
        cfg: the resolved run configuration.
        model: the run's model (its ``train_rotation()`` and ``reuses_train_features``).
        gradient: the run has a gradient phase (only then is the recipe loaded).
        world: processes of the run (real defects train in one).

    Raises:
        DataError: no normal image in the split, or no defective photo for ``--real-defects``.
        ConfigError: an option the model or the run cannot take together.
    """
    dataset = ZooDataset(
        cfg.data, cfg.image_size, recipe=None, seed=cfg.seed, split=cfg.split, label="normal"
    )
    check_not_empty(dataset, f"normal {cfg.split!r}")
    dataset.rotation = model.train_rotation()
    if cfg.real_defects not in (None, "none"):
        from adsynth.zoo.real_defects import attach

        if world > 1:
            raise ConfigError("--real-defects trains in one process (not under torchrun) for now")
        attach(dataset, cfg.split, cfg.real_defects, cfg.synthetic is not False)
    if cfg.crop:
        if model.reuses_train_features:
            raise ConfigError("cache_features reuses the first window's features: turn it off with --crop")
        dataset.use_crops(cfg.crop)
    if gradient:
        dataset.recipe = load_recipe(cfg.recipe, cfg.textures)
    return dataset


def load_recipe(spec: Any, textures: str | None) -> Any:
    """A recipe name or YAML path as a recipe; None and recipe objects as they are."""
    if spec is None or hasattr(spec, "apply"):
        return spec
    from adsynth.synth.recipes import load_recipe as load
    from adsynth.zoo.checkpoint import load_reconstructor

    # An ognet entry naming a checkpoint needs the zoo to load it (synth never imports the zoo).
    loader = functools.partial(load_reconstructor, device="cpu")
    return load(str(spec), textures=textures, checkpoint_loader=loader)

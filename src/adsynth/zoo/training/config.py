"""A training run's configuration: what the user gives, its checks, the model's defaults and resume rules.

Every option left at None takes a default here, by ``is None`` (an explicit ``0`` is a value and is
checked, never silently replaced by the default).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adsynth._validation import check_positive_int
from adsynth.errors import ConfigError

# Options that a resumed run takes from its checkpoint; giving another value is an error.
FIXED_ON_RESUME = (
    "model",
    "batch_size",
    "lr",
    "image_size",
    "seed",
    "recipe",
    "textures",
    "split",
    "hparams",
    "crop",
    "real_defects",
    "synthetic",
    "real_fraction",
)
FIT_MODES = ("gradient", "fit", "both")
#: ``real_defects`` modes: the training split's defective photos left out, used with their masks, or
#: used with their image labels only (weak supervision)
REAL_DEFECT_MODES = ("none", "all", "labels-only")
#: the supervision a model must declare (``AnomalyModel.supervision``) for each mode
NEEDS_SUPERVISION = {"all": "full", "labels-only": "weak"}


@dataclass
class TrainConfig:
    """Everything a training run needs (recorded in the checkpoint as ``train_config``).

    Options left at None take the model's defaults, or the saved run's values when resuming. Values
    given are checked when the config is built (:class:`~adsynth.errors.ConfigError` naming the option).

    Attributes:
        model: registry name (``adsynth models``); optional when resuming.
        data: the training dataset (``.h5``); its ``split`` normal images are used; optional when resuming.
        out: run folder (``model.pt``, ``last.pt``, ``metrics.csv``, ``config.json``).
        epochs, batch_size, lr: default to the model's ``default_*``.
        image_size: model resolution; defaults to the model's default.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:i``.
        workers: DataLoader worker processes (0 = load in the main process).
        seed: seeds the model initialisation, the sampling order and the synthesis (default 0), and is
            the ``seed`` hyper-parameter of every model that declares one, unless ``hparams`` sets it.
        recipe: synth recipe name or YAML path; default the model's ``default_recipe`` when it
            ``uses_synthetic``. An object with ``apply(image, rng, context)`` is accepted from Python.
        textures: texture folder for texture-based recipes.
        hparams: model hyper-parameters (``--set key=value``, ``--backbone``, ...).
        split: dataset split to train on (default ``train``).
        crop: tiled training: this many random ``image_size`` windows per photo and epoch, at the
            photo's own resolution (no padding; see :mod:`adsynth.zoo.data`); 0 (default): the whole
            image resized to the square. Recorded in the checkpoint, where ``predict`` reads it to
            default to ``fit="tile"``.
        real_defects: the training split's defective photos (``adsynth dataset import --train-defects``):
            ``"none"`` (default: normal images only), ``"all"`` (with their masks: supervised, or mixed
            with synthetic anomalies) or ``"labels-only"`` (image labels only: weak supervision). The
            model must declare that supervision (``AnomalyModel.supervision``), else a ConfigError.
        synthetic: train on synthetic anomalies too (None: True); False with real defects is the
            real-only baseline (no recipe, no feature noise).
        real_fraction: the share of each epoch's samples that are real defective photos (drawn in turn,
            each as often as the others; default 0.25): the normal images are all seen once per epoch.
        resume: continue the run in ``out`` from ``last.pt``.
        overwrite: replace an existing run in ``out``.
        compile: ``torch.compile`` the training step.
        amp: mixed precision on CUDA (ignored on CPU).
        log_every: steps between metric rows (and loss finiteness checks).
        progress: ``True``/``"auto"`` (a bar on a terminal, otherwise a line per epoch and at most
            every 30 s), ``"lines"``, ``"json"`` (one JSON object per line) or ``False``/``"quiet"``;
            see :mod:`adsynth.progress`.

    Example:
        >>> TrainConfig(model="ae", data="train.h5", out="runs/ae", lr=0)
        Traceback (most recent call last):
        ...
        adsynth.errors.ConfigError: expected `lr` to be a positive finite number, got 0
    """

    model: str | None = None
    data: str | os.PathLike | None = None
    out: str | os.PathLike | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    image_size: int | None = None
    device: str = "auto"
    workers: int = 2
    seed: int | None = None
    recipe: Any = None
    textures: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    split: str | None = None
    crop: int | None = None
    real_defects: str | None = None
    synthetic: bool | None = None
    real_fraction: float | None = None
    resume: bool = False
    overwrite: bool = False
    compile: bool = False
    amp: bool = True
    log_every: int = 10
    progress: bool | str = True

    def __post_init__(self) -> None:
        if self.epochs is not None:
            self.epochs = _check_int(self.epochs, "epochs", minimum=0)
        if self.batch_size is not None:
            self.batch_size = check_positive_int(self.batch_size, "batch_size")
        if self.lr is not None:
            self.lr = _check_positive_float(self.lr, "lr")
        if self.image_size is not None:
            self.image_size = check_positive_int(self.image_size, "image_size")
        if self.seed is not None:
            self.seed = _check_int(self.seed, "seed", minimum=0)
        if self.crop is not None:
            self.crop = _check_int(self.crop, "crop", minimum=0)
        self.workers = _check_int(self.workers, "workers", minimum=0)
        if self.real_defects is not None and self.real_defects not in REAL_DEFECT_MODES:
            raise ConfigError(
                f"expected `real_defects` to be one of {', '.join(REAL_DEFECT_MODES)}, "
                f"got {self.real_defects!r}"
            )
        if self.synthetic is not None and not isinstance(self.synthetic, bool):
            raise ConfigError(f"expected `synthetic` to be true or false, got {self.synthetic!r}")
        if self.real_fraction is not None:
            f = self.real_fraction
            if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 < f < 1:
                raise ConfigError(f"expected `real_fraction` in (0, 1), got {f!r}")
            self.real_fraction = float(f)
        self.progress = progress_mode(self.progress)

    def record(self) -> dict[str, Any]:
        """The plain-data form stored in checkpoints (a recipe object is recorded by its name)."""
        d = dataclasses.asdict(self)
        if self.recipe is not None and not isinstance(self.recipe, (str, os.PathLike)):
            d["recipe"] = str(getattr(self.recipe, "name", type(self.recipe).__name__))
        elif self.recipe is not None:
            d["recipe"] = str(self.recipe)
        for k in ("data", "out", "textures"):
            if d[k] is not None:
                d[k] = str(d[k])
        for k in ("resume", "overwrite", "progress"):
            d.pop(k)
        return d


@dataclass
class TrainResult:
    """What a run produced."""

    out: Path
    checkpoint: Path
    epochs: int
    steps: int
    metrics: dict[str, float]
    images_per_s: float
    seconds: float
    fitted_images: int = 0  # images (or crop windows) the fit phase of this run passed over
    image_size: int | None = None
    real_defects: int = 0  # real defective photos the gradient phase trained on


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"expected `{name}` to be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_positive_float(value: Any, name: str) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (ok and math.isfinite(value) and value > 0):
        raise ConfigError(f"expected `{name}` to be a positive finite number, got {value!r}")
    return float(value)


def _params(cls: type) -> dict:
    """The model's keyword parameters, followed along ``**kwargs`` to the bases that declare them."""
    from adsynth.registry import factory_params

    named = factory_params(cls)
    if named is None:
        sig = inspect.signature(cls).parameters
        named = {k: (None if p.default is inspect.Parameter.empty else p.default) for k, p in sig.items()}
    return named


def default_image_size(cls: type) -> int:
    """The model's ``image_size`` default, else 256."""
    size = _params(cls).get("image_size")
    return int(size) if size else 256


def declares_seed(cls: type) -> bool:
    """True when the model takes a ``seed`` hyper-parameter (its own or a base's, through ``**kwargs``)."""
    return "seed" in _params(cls)


def default_size_for(cls: type, data_side: int | None) -> int:
    """The resolution a run takes when the user gives none: the model's default, but never above the
    dataset's stored images (their shorter side, rounded down to a multiple of 32, at least 32): a
    128-px dataset is not blown up to a model's 256 px (4× the work for no new detail).

    Example:
        >>> class M:
        ...     def __init__(self, image_size: int = 256): ...
        >>> default_size_for(M, 128), default_size_for(M, 1024), default_size_for(M, 100)
        (128, 256, 96)
    """
    size = default_image_size(cls)
    if data_side:
        size = min(size, max(32, int(data_side) // 32 * 32))
    return size


def resolve(cfg: TrainConfig, cls: type, data_side: int | None = None) -> TrainConfig:
    """``cfg`` with every default filled in for model class ``cls`` (epochs 0 for fit-only models);
    ``data_side``: the shorter side of the dataset's images (see :func:`default_size_for`).

    Raises:
        ConfigError: an unknown ``fit_mode``, ``epochs < 1`` for a gradient-trained model, or a model
            that trains on synthetic anomalies without a recipe.
    """
    if cls.fit_mode not in FIT_MODES:
        raise ConfigError(f"model {cfg.model!r} has an unknown fit_mode {cls.fit_mode!r}")
    grad = cls.fit_mode in ("gradient", "both")
    epochs = 0
    if grad:
        epochs = cfg.epochs if cfg.epochs is not None else int(cls.default_epochs)
        if epochs < 1:
            raise ConfigError(f"expected `epochs` >= 1 for the gradient-trained {cfg.model!r}, got {epochs}")
    real = cfg.real_defects if cfg.real_defects is not None else "none"
    if real != "none":
        need = NEEDS_SUPERVISION[real]
        accepted = tuple(getattr(cls, "supervision", ("unsupervised",)))
        if need not in accepted:
            raise ConfigError(
                f"model {cfg.model!r} trains on normal images only and cannot use real defects "
                f"(--real-defects {real} needs {need} supervision; it accepts: {', '.join(accepted)})"
            )
        if cfg.crop:
            raise ConfigError("--real-defects cannot be combined with --crop yet")
    synthetic = cfg.synthetic is not False
    if not synthetic and real == "none":
        raise ConfigError("--no-synthetic needs real defects to learn from (--real-defects all|labels-only)")
    recipe = cfg.recipe
    if not synthetic:
        if recipe is not None:
            raise ConfigError("--no-synthetic trains on real defects only: leave out --recipe")
    elif recipe is None and cls.uses_synthetic:
        recipe = cls.default_recipe
        if recipe is None:
            raise ConfigError(f"model {cfg.model!r} trains on synthetic anomalies: give a recipe (--recipe)")
    # Rebuilding through the constructor checks the model's defaults as the user's values are checked.
    return dataclasses.replace(
        cfg,
        epochs=epochs,
        batch_size=cfg.batch_size if cfg.batch_size is not None else int(cls.default_batch_size),
        lr=cfg.lr if cfg.lr is not None else float(cls.default_lr),
        image_size=cfg.image_size if cfg.image_size is not None else default_size_for(cls, data_side),
        seed=cfg.seed if cfg.seed is not None else 0,
        split=cfg.split if cfg.split is not None else "train",
        crop=cfg.crop if cfg.crop is not None else 0,
        hparams=dict(cfg.hparams or {}),
        recipe=recipe,
        real_defects=real,
        synthetic=synthetic,
        real_fraction=(cfg.real_fraction if cfg.real_fraction is not None else 0.25)
        if real != "none"
        else None,
    )


def progress_mode(value: bool | str) -> str:
    """``TrainConfig.progress`` as a mode of :mod:`adsynth.progress` (True: auto, False: quiet)."""
    from adsynth.progress import MODES

    if value is True or value is False:
        return "auto" if value else "quiet"
    if value not in MODES:
        raise ConfigError(f"progress must be True, False or one of {', '.join(MODES)}, not {value!r}")
    return value


def model_kwargs(cfg: TrainConfig, cls: type, channels: int) -> dict[str, Any]:
    """The constructor arguments of a resolved run's model: resolution, channels, the run's seed when
    the model declares ``seed`` (an explicit ``hparams["seed"]`` wins), then the hyper-parameters."""
    kwargs: dict[str, Any] = {"image_size": cfg.image_size, "channels": channels}
    if declares_seed(cls):
        kwargs["seed"] = cfg.seed
    return {**kwargs, **cfg.hparams}


def merge_resume(cfg: TrainConfig, saved: dict[str, Any]) -> TrainConfig:
    """The saved run's configuration, with this call's epochs/device/workers/compile/amp/logging."""
    mine = cfg.record()
    for k in FIXED_ON_RESUME:
        given, was = mine.get(k), saved.get(k)
        if k not in saved and k in ("real_defects", "synthetic", "real_fraction"):
            continue  # a run saved before these options existed trained on normal images only
        if k == "hparams":
            if given and given != was:
                raise ConfigError(f"cannot resume with other hyper-parameters (the run used {was})")
        elif given is not None and given != was:
            raise ConfigError(f"cannot resume with {k}={given!r}: the run used {k}={was!r}")
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    merged = {k: v for k, v in saved.items() if k in names}
    merged.update(
        device=cfg.device,
        workers=cfg.workers,
        compile=cfg.compile,
        amp=cfg.amp,
        log_every=cfg.log_every,
        progress=cfg.progress,
        resume=True,
        overwrite=False,
        out=cfg.out,
    )
    if cfg.data is not None:
        merged["data"] = cfg.data
    if cfg.epochs is not None:
        if cfg.epochs < int(saved["epochs"]):
            raise ConfigError(
                f"cannot resume with fewer epochs ({cfg.epochs}) than the run had ({saved['epochs']})"
            )
        merged["epochs"] = cfg.epochs
    if cfg.recipe is not None and not isinstance(cfg.recipe, (str, os.PathLike)):
        merged["recipe"] = cfg.recipe  # a Python recipe object cannot be saved: it is passed again
    return TrainConfig(**merged)

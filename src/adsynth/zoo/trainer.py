"""The generic trainer: drives any :class:`~adsynth.zoo.base.AnomalyModel` through its ``fit_mode``.

* ``gradient``: ``configure_optimizers`` then ``training_step`` on every batch of every epoch; the
  scheduler (if any) steps once per epoch. A model that returns a *list* of ``(optimizer, scheduler)``
  pairs (GANs) gets, for every batch, ``training_step(batch, optimizer_idx=i)`` for each ``i`` in
  order; each returned loss is back-propagated alone and steps optimizer ``i`` only (every gradient of
  the model is cleared first, so a loss never updates another optimizer's parameters); a step that
  returns None is idle and skipped. ``model.on_epoch_start(epoch, epochs)`` runs before every epoch
  (phase switches);
* ``fit``: one pass of ``fit_batch`` over the normal training images, then ``fit_end``;
* ``both``: the gradient phase, then the fitting pass.

Training uses the ``train`` split's normal images. When the model ``uses_synthetic`` (or a recipe is
given) each item also carries ``aug_image``/``aug_mask``/``aug_label``, synthesised in the DataLoader
worker from ``np.random.default_rng([seed, epoch, row])`` (see :mod:`adsynth.zoo.data`).

On CUDA: mixed precision (bf16 where supported, else fp16 with a gradient scaler), channels-last
tensors, pinned memory with non-blocking copies and optional ``torch.compile``. On CPU the run is
deterministic for a given seed, and ``resume`` continues to the same weights as an uninterrupted run.
Under ``torchrun`` (``WORLD_SIZE > 1``) the gradient phase runs with DistributedDataParallel (NCCL on
CUDA, Gloo on CPU) and a DistributedSampler; rank 0 alone writes checkpoints and logs, and runs the
fitting pass. Every rank must be able to read the data file (and ``last.pt`` when resuming).

Example:
    >>> from adsynth.zoo.trainer import TrainConfig, train
    >>> result = train(TrainConfig(model="ae", data="train.h5", out="runs/ae", epochs=10))  # doctest: +SKIP
    >>> result.checkpoint  # doctest: +SKIP
    PosixPath('runs/ae/model.pt')
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from adsynth.errors import ConfigError, OutputExistsError, TrainingError
from adsynth.zoo.checkpoint import (
    LAST_FILE,
    MODEL_FILE,
    TRAINING_STATE_KEYS,
    data_fingerprint,
    make_checkpoint,
    read_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from adsynth.zoo.data import EpochSampler, WorkerInit, ZooDataset, check_not_empty, epoch_generator
from adsynth.zoo.device import resolve_device

METRICS_FILE = "metrics.csv"
CONFIG_FILE = "config.json"
TENSORBOARD_DIR = "tensorboard"

# Options that a resumed run takes from its checkpoint; giving another value is an error.
_FIXED_ON_RESUME = (
    "model",
    "batch_size",
    "lr",
    "image_size",
    "seed",
    "recipe",
    "textures",
    "split",
    "hparams",
)


@dataclass
class TrainConfig:
    """Everything a training run needs (recorded in the checkpoint as ``train_config``).

    Options left at None take the model's defaults, or the saved run's values when resuming.

    Attributes:
        model: registry name (``adsynth models``); optional when resuming.
        data: the training dataset (``.h5``); its ``split`` normal images are used; optional when resuming.
        out: run folder (``model.pt``, ``last.pt``, ``metrics.csv``, ``config.json``).
        epochs, batch_size, lr: default to the model's ``default_*``.
        image_size: model resolution; defaults to the model's default.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:i``.
        workers: DataLoader worker processes (0 = load in the main process).
        seed: seeds the model initialisation, the sampling order and the synthesis (default 0).
        recipe: synth recipe name or YAML path; default the model's ``default_recipe`` when it
            ``uses_synthetic``. An object with ``apply(image, rng, context)`` is accepted from Python.
        textures: texture folder for texture-based recipes.
        hparams: model hyper-parameters (``--set key=value``, ``--backbone``, ...).
        split: dataset split to train on (default ``train``).
        resume: continue the run in ``out`` from ``last.pt``.
        overwrite: replace an existing run in ``out``.
        compile: ``torch.compile`` the training step.
        amp: mixed precision on CUDA (ignored on CPU).
        log_every: steps between metric rows (and loss finiteness checks).
        progress: show a progress bar (on a terminal).
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
    resume: bool = False
    overwrite: bool = False
    compile: bool = False
    amp: bool = True
    log_every: int = 10
    progress: bool = True

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


# ---------------------------------------------------------------------------------------- distributed
@dataclass
class _Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: torch.device) -> tuple[_Dist, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist(), device
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return _Dist(rank, local, world), device


def _finish_distributed(d: _Dist) -> None:
    if d.world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


# ---------------------------------------------------------------------------------------- helpers
class _TrainingStep(nn.Module):
    """``forward(batch) = model.training_step(batch)``, so that DDP and torch.compile see the step.

    With several optimizers, ``forward(batch, i) = model.training_step(batch, optimizer_idx=i)``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, batch: dict[str, torch.Tensor], optimizer_idx: int | None = None
    ) -> dict[str, torch.Tensor] | None:
        if optimizer_idx is None:
            return self.model.training_step(batch)
        return self.model.training_step(batch, optimizer_idx=optimizer_idx)


@dataclass
class _Optimizers:
    """What ``configure_optimizers`` returned, as a list of (optimizer, scheduler) pairs.

    ``multi`` is True when the model returned a list: its ``training_step`` then takes
    ``optimizer_idx`` and checkpoints store lists of states.
    """

    pairs: list[tuple[torch.optim.Optimizer, Any]]
    multi: bool

    @classmethod
    def of(cls, configured: Any) -> _Optimizers:
        if isinstance(configured, list):
            if not configured:
                raise ConfigError("configure_optimizers() returned an empty list")
            pairs = []
            for i, pair in enumerate(configured):
                if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                    raise ConfigError(
                        f"configure_optimizers(): item {i} must be an (optimizer, scheduler) pair, "
                        f"got {pair!r}"
                    )
                pairs.append((pair[0], pair[1]))
            return cls(pairs, True)
        opt, sched = configured
        return cls([(opt, sched)], False)

    def state(self) -> dict[str, Any]:
        opts = [o.state_dict() for o, _ in self.pairs]
        scheds = [s.state_dict() if s is not None else None for _, s in self.pairs]
        if not self.multi:
            return {"optimizer": opts[0], "scheduler": scheds[0]}
        return {"optimizer": opts, "scheduler": scheds}

    def load(self, ckpt: dict[str, Any]) -> None:
        opts, scheds = ckpt.get("optimizer"), ckpt.get("scheduler")
        if opts is None:  # written after a fitting pass: the gradient phase was over
            return
        if not isinstance(opts, list):
            opts, scheds = [opts], [scheds]
        if len(opts) != len(self.pairs):
            raise ConfigError(
                f"cannot resume: the checkpoint has {len(opts)} optimizer state(s), "
                f"the model {len(self.pairs)}"
            )
        scheds = scheds if isinstance(scheds, list) else [None] * len(opts)
        for (opt, sched), o, s in zip(self.pairs, opts, scheds, strict=True):
            opt.load_state_dict(o)
            if sched is not None and s is not None:
                sched.load_state_dict(s)

    def step_schedulers(self) -> None:
        for _, sched in self.pairs:
            if sched is not None:
                sched.step()

    @property
    def lr(self) -> float:
        return self.pairs[0][0].param_groups[0]["lr"]


def _sync_gradients(opt: torch.optim.Optimizer, world: int) -> None:
    """Average the gradients of ``opt``'s parameters over the ranks (multi-optimizer models under DDP).

    A parameter without a gradient gets zeros, so that every rank reduces the same tensors.
    """
    import torch.distributed as dist

    for group in opt.param_groups:
        for p in group["params"]:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)
            p.grad.div_(world)


def _broadcast_model(model: nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (what DDP does when it wraps a model)."""
    import torch.distributed as dist

    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            dist.broadcast(t, 0)


def _to_device(batch: dict[str, Any], device: torch.device, channels_last: bool) -> dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, non_blocking=True)
            if channels_last and v.ndim == 4:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


def _amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    if device.type != "cuda" or not enabled:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _default_image_size(name: str) -> int:
    from adsynth.zoo import model_hparams

    params = model_hparams(name)
    size = (params or {}).get("image_size")
    return int(size) if size else 256


def _load_recipe(spec: Any, textures: str | None):
    if spec is None or hasattr(spec, "apply"):
        return spec
    from adsynth.synth.recipes import load_recipe

    return load_recipe(str(spec), textures=textures)


class _RunLog:
    """Rank-0 metric rows: ``metrics.csv`` (and TensorBoard when the package is installed)."""

    def __init__(self, out: Path, keep_epochs: int | None, enabled: bool) -> None:
        self.path = out / METRICS_FILE
        self.enabled = enabled
        self.fields: list[str] | None = None
        self.tb = None
        if not enabled:
            return
        if keep_epochs is not None and self.path.exists():
            # Resuming: drop rows of epochs that the checkpoint does not contain.
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            kept = [r for r in rows if int(r["epoch"]) <= keep_epochs]
            if rows:
                self.fields = list(rows[0].keys())
                self._write_rows(kept, "w")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out / TENSORBOARD_DIR))
        except ImportError:
            self.tb = None

    def _write_rows(self, rows: list[dict[str, Any]], mode: str) -> None:
        assert self.fields is not None
        new = mode == "w" or not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, mode, newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerows(rows)

    def log(self, epoch: int, step: int, terms: dict[str, float], images_per_s: float, lr: float) -> None:
        if not self.enabled:
            return
        row = {
            "epoch": epoch,
            "step": step,
            **{k: f"{v:.6g}" for k, v in terms.items()},
            "images_per_s": f"{images_per_s:.2f}",
            "lr": f"{lr:.6g}",
        }
        if self.fields is None:
            self.fields = list(row)
        elif any(k not in self.fields for k in row):
            # A new term (a GAN's next phase): widen the header and rewrite the earlier rows under it.
            self.fields += [k for k in row if k not in self.fields]
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            self._write_rows(rows, "w")
        self._write_rows([row], "a")
        if self.tb is not None:
            for k, v in terms.items():
                self.tb.add_scalar(f"train/{k}", v, step)
            self.tb.add_scalar("train/images_per_s", images_per_s, step)
            self.tb.add_scalar("train/lr", lr, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="batch",
        dynamic_ncols=True,
        leave=False,
        disable=None if enabled else True,
    )


def _prepare_out(cfg: TrainConfig, main: bool) -> Path:
    out = Path(cfg.out)
    model_file, last_file = out / MODEL_FILE, out / LAST_FILE
    if cfg.resume:
        if not last_file.is_file():
            raise ConfigError(f"cannot resume: {last_file} not found")
        return out
    if model_file.exists() and not cfg.overwrite:
        raise OutputExistsError(
            f"{model_file} exists (pass --overwrite to replace the run, --resume to continue it)"
        )
    if main:
        out.mkdir(parents=True, exist_ok=True)
        for p in (model_file, last_file, out / METRICS_FILE):
            if p.exists():
                p.unlink()
        if (out / TENSORBOARD_DIR).is_dir():
            shutil.rmtree(out / TENSORBOARD_DIR)
    return out


def _merge_resume(cfg: TrainConfig, saved: dict[str, Any]) -> TrainConfig:
    """The saved run's configuration, with this call's epochs/device/workers/compile/amp/logging."""
    mine = cfg.record()
    for k in _FIXED_ON_RESUME:
        given, was = mine.get(k), saved.get(k)
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


# ---------------------------------------------------------------------------------------- the loop
def train(
    config: TrainConfig, on_epoch_end: Callable[[int, dict[str, float]], None] | None = None
) -> TrainResult:
    """Train (or fit) a zoo model and write its run folder.

    Args:
        config: the run (see :class:`TrainConfig`).
        on_epoch_end: called on rank 0 as ``on_epoch_end(epochs_done, mean_losses)`` after each
            epoch's checkpoints are written.

    Returns:
        A :class:`TrainResult` (run folder, ``model.pt``, epochs, steps, last epoch's mean losses).

    Raises:
        OutputExistsError: ``out`` already holds a run and neither ``overwrite`` nor ``resume`` is set.
        TrainingError: a non-finite loss; the last good checkpoint is kept.
    """
    t0 = time.perf_counter()
    device = resolve_device(config.device)
    dist_info, device = _init_distributed(device)
    try:
        return _train(config, device, dist_info, on_epoch_end, t0)
    finally:
        _finish_distributed(dist_info)


def _train(cfg: TrainConfig, device: torch.device, d: _Dist, on_epoch_end, t0: float) -> TrainResult:
    from adsynth.zoo import create_model, load_models
    from adsynth.zoo.base import MODELS

    load_models()
    if cfg.out is None:
        raise ConfigError("expected `out`, the run folder")
    out = _prepare_out(cfg, d.main)
    resume_ckpt = None
    if cfg.resume:
        resume_ckpt = read_checkpoint(out / LAST_FILE)
        cfg = _merge_resume(cfg, resume_ckpt["train_config"])
    if cfg.model is None or cfg.data is None:
        raise ConfigError("expected a model and a training dataset (--model, --data)")
    fingerprint = data_fingerprint(cfg.data)
    if resume_ckpt is not None and resume_ckpt.get("data_fingerprint") != fingerprint:
        raise ConfigError(f"cannot resume: {cfg.data} is not the dataset this run was trained on")

    cls = MODELS.get(cfg.model)
    if cls.fit_mode not in ("gradient", "fit", "both"):
        raise ConfigError(f"model {cfg.model!r} has an unknown fit_mode {cls.fit_mode!r}")
    grad = cls.fit_mode in ("gradient", "both")
    fit = cls.fit_mode in ("fit", "both")
    epochs = int(cfg.epochs if cfg.epochs is not None else cls.default_epochs) if grad else 0
    batch_size = int(cfg.batch_size or cls.default_batch_size)
    lr = float(cfg.lr or cls.default_lr)
    image_size = int(cfg.image_size or _default_image_size(cfg.model))
    if (grad and epochs < 1) or batch_size < 1 or not lr > 0:
        raise ConfigError(
            f"expected epochs >= 1, batch_size >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}"
        )
    seed = int(cfg.seed or 0)
    cfg = dataclasses.replace(
        cfg,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        image_size=image_size,
        seed=seed,
        split=cfg.split or "train",
        hparams=dict(cfg.hparams or {}),
    )
    recipe_spec = (
        cfg.recipe if cfg.recipe is not None else (cls.default_recipe if cls.uses_synthetic else None)
    )
    if cls.uses_synthetic and recipe_spec is None:
        raise ConfigError(f"model {cfg.model!r} trains on synthetic anomalies: give a recipe (--recipe)")
    cfg = dataclasses.replace(cfg, recipe=recipe_spec)

    dataset = ZooDataset(cfg.data, image_size, recipe=None, seed=seed, split=cfg.split, label="normal")
    check_not_empty(dataset, f"normal {cfg.split!r}")
    torch.manual_seed(seed)
    model = create_model(cfg.model, **{"image_size": image_size, "channels": dataset.channels, **cfg.hparams})
    if resume_ckpt is not None:
        model.load_state_dict(resume_ckpt["state_dict"])
    dataset.rotation = model.train_rotation()
    record = cfg.record()
    if d.main:
        (out / CONFIG_FILE).write_text(
            json.dumps(
                {"train_config": record, "model": cfg.model, "model_config": model.config()},
                indent=2,
                default=str,
            )
            + "\n"
        )

    channels_last = device.type == "cuda"
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    amp_dtype = _amp_dtype(device, cfg.amp)
    fields = {"train_config": record, "data_fingerprint": fingerprint}
    state = {"epoch": 0, "step": 0, "metrics": {}, "ips": 0.0}

    fitted = bool(resume_ckpt.get("fitted")) if resume_ckpt is not None else False
    if fitted and grad and int(resume_ckpt["epoch"]) < epochs:
        fitted = False  # more gradient epochs make the fitted statistics stale: fit again afterwards
    if grad:
        dataset.recipe = _load_recipe(recipe_spec, cfg.textures)
        _gradient_phase(
            cfg,
            model,
            dataset,
            device,
            d,
            amp_dtype,
            channels_last,
            out,
            fields,
            state,
            resume_ckpt,
            fitted,
            on_epoch_end,
        )
    elif resume_ckpt is not None:
        state.update(epoch=int(resume_ckpt["epoch"]), step=int(resume_ckpt["step"]))
    if fit and d.main and not fitted:
        dataset.recipe = None
        _fit_phase(cfg, model, dataset, device, channels_last, out, fields, state)
    elif fit and fitted:
        state["metrics"] = dict(resume_ckpt.get("metrics", {}))
    return TrainResult(
        out=out,
        checkpoint=out / MODEL_FILE,
        epochs=state["epoch"],
        steps=state["step"],
        metrics=state["metrics"],
        images_per_s=state["ips"],
        seconds=time.perf_counter() - t0,
    )


def _save(
    out: Path,
    model: nn.Module,
    fields: dict[str, Any],
    state: dict[str, Any],
    fitted: bool,
    training_state: dict[str, Any] | None,
) -> None:
    meta = {
        **fields,
        "epoch": state["epoch"],
        "step": state["step"],
        "fitted": fitted,
        "metrics": dict(state["metrics"]),
    }
    if training_state is not None:
        save_checkpoint(out / LAST_FILE, make_checkpoint(model, **meta, **training_state))
    save_checkpoint(out / MODEL_FILE, make_checkpoint(model, **meta))


def _loader(
    dataset, batch_size: int, workers: int, device: torch.device, sampler, seed: int, epoch: int, rank: int
):
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=False,
        worker_init_fn=WorkerInit(seed, rank),
        # A dedicated generator: creating the iterator must not consume the global torch RNG.
        generator=epoch_generator(seed, epoch, stream=1),
    )


def _gradient_phase(
    cfg,
    model,
    dataset,
    device,
    d: _Dist,
    amp_dtype,
    channels_last,
    out,
    fields,
    state,
    resume_ckpt,
    fitted,
    on_epoch_end,
) -> None:
    opts = _Optimizers.of(model.configure_optimizers(lr=cfg.lr, epochs=cfg.epochs))
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    start = 0
    if resume_ckpt is not None:
        opts.load(resume_ckpt)
        if resume_ckpt.get("scaler"):
            scaler.load_state_dict(resume_ckpt["scaler"])
        set_rng_state(resume_ckpt["rng"])
        start = int(resume_ckpt["epoch"])
        state.update(epoch=start, step=int(resume_ckpt["step"]), metrics=dict(resume_ckpt.get("metrics", {})))

    step_module: nn.Module = _TrainingStep(model)
    if d.world > 1 and opts.multi:
        # Alternating losses (a GAN's generator and discriminator steps) each touch part of the model and
        # some steps are idle: DDP's one-backward-per-forward bookkeeping does not fit, so gradients are
        # averaged by hand after each backward, and the ranks start from rank 0's weights.
        _broadcast_model(model)
    elif d.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        step_module = DistributedDataParallel(
            step_module, device_ids=[device.index] if device.type == "cuda" else None
        )
    if cfg.compile:
        step_module = torch.compile(step_module)
    if d.world > 1:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(dataset, num_replicas=d.world, rank=d.rank, shuffle=True, seed=cfg.seed)
    else:
        sampler = EpochSampler(len(dataset), seed=cfg.seed)

    log = _RunLog(out, keep_epochs=start if resume_ckpt is not None else None, enabled=d.main)
    try:
        for epoch in range(start, cfg.epochs):
            dataset.set_epoch(epoch)
            sampler.set_epoch(epoch)
            loader = _loader(dataset, cfg.batch_size, cfg.workers, device, sampler, cfg.seed, epoch, d.rank)
            model.on_epoch_start(epoch, cfg.epochs)
            model.train()
            means = _run_epoch(
                cfg,
                model,
                step_module,
                opts,
                scaler,
                loader,
                device,
                amp_dtype,
                channels_last,
                epoch,
                state,
                log,
                d,
            )
            opts.step_schedulers()
            state["epoch"] = epoch + 1
            state["metrics"] = means
            if d.main:
                training_state = {
                    **opts.state(),
                    "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                    "rng": rng_state(),
                }
                _save(out, model, fields, state, fitted, training_state)
                if on_epoch_end is not None:
                    on_epoch_end(epoch + 1, means)
    finally:
        log.close()


def _run_epoch(
    cfg,
    model,
    step_module,
    opts,
    scaler,
    loader,
    device,
    amp_dtype,
    channels_last,
    epoch,
    state,
    log,
    d: _Dist,
) -> dict[str, float]:
    pending: list[dict[str, torch.Tensor]] = []
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    n_images = 0
    t_last = time.perf_counter()
    bar = _progress(len(loader), f"epoch {epoch + 1}/{cfg.epochs}", cfg.progress and d.main)
    params = list(model.parameters())

    def flush() -> None:
        nonlocal n_images, t_last
        if not pending:
            return
        # Steps may log different terms (an idle optimizer, a phase of a GAN): each key is averaged over
        # the steps that logged it.
        keys = list(dict.fromkeys(k for p in pending for k in p))
        rows = list(pending)
        losses = torch.stack([p["loss"].detach().float() for p in rows]).cpu()
        if not torch.isfinite(losses).all():
            first = int((~torch.isfinite(losses)).nonzero()[0])
            step = rows[first]["_step"]
            last = state["epoch"]
            kept = f"{Path(cfg.out) / MODEL_FILE} (epoch {last})" if last else "none (no epoch finished)"
            raise TrainingError(
                f"non-finite loss ({float(losses[first])}) at epoch {epoch + 1}, step {step}; "
                f"training stopped, last good checkpoint: {kept}"
            )
        mean: dict[str, float] = {}
        for k in keys:
            if k == "_step":
                continue
            vals = torch.stack([p[k].detach().float() for p in rows if k in p]).cpu()
            mean[k] = float(vals.mean())
            sums[k] = sums.get(k, 0.0) + float(vals.sum())
            counts[k] = counts.get(k, 0) + len(vals)
        now = time.perf_counter()
        ips = n_images / max(now - t_last, 1e-9) * d.world
        state["ips"] = ips
        log.log(epoch + 1, state["step"], mean, ips, opts.lr)
        bar.set_postfix(loss=f"{mean['loss']:.4g}", img_s=f"{ips:.1f}")
        pending.clear()
        n_images, t_last = 0, now

    def backward_and_step(loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if opts.multi:
            for p in params:
                p.grad = None
        else:
            opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if opts.multi and d.world > 1:
            _sync_gradients(opt, d.world)
        scaler.step(opt)

    try:
        for batch in loader:
            batch = _to_device(batch, device, channels_last)
            merged: dict[str, torch.Tensor] = {}
            for i, (opt, _) in enumerate(opts.pairs):
                with _autocast(device, amp_dtype):
                    terms = step_module(batch, i) if opts.multi else step_module(batch)
                if terms is None and opts.multi:
                    continue
                if not isinstance(terms, dict) or "loss" not in terms:
                    raise TypeError(f"{type(model).__name__}: training_step must return a dict with `loss`")
                backward_and_step(terms["loss"], opt)
                if opts.multi:
                    loss = terms["loss"].detach()
                    merged["loss"] = merged["loss"] + loss if "loss" in merged else loss
                    merged[f"loss_{i}"] = loss
                    merged.update({k: v.detach() for k, v in terms.items() if k != "loss"})
                else:
                    merged = {"loss": terms["loss"], **{k: v for k, v in terms.items() if k != "loss"}}
            if merged:
                # Once per batch, after every optimizer stepped (the multi-optimizer AMP recipe).
                scaler.update()
            state["step"] += 1
            n_images += int(batch["image"].shape[0])
            bar.update(1)
            if merged:
                merged["_step"] = state["step"]
                pending.append(merged)
            if len(pending) >= max(1, cfg.log_every):
                flush()
        flush()
    finally:
        bar.close()
    return {k: v / counts[k] for k, v in sums.items()}


def _fit_phase(cfg, model, dataset, device, channels_last, out, fields, state) -> None:
    loader = _loader(
        dataset,
        cfg.batch_size,
        cfg.workers,
        device,
        EpochSampler(len(dataset), shuffle=False),
        cfg.seed,
        0,
        0,
    )
    model.eval()
    t = time.perf_counter()
    n = 0
    with torch.no_grad(), _progress(len(loader), "fit", cfg.progress) as bar:
        for batch in loader:
            model.fit_batch(_to_device(batch, device, channels_last))
            n += int(batch["image"].shape[0])
            bar.update(1)
        model.fit_end()
    state["ips"] = n / max(time.perf_counter() - t, 1e-9)
    _save(out, model, fields, state, True, {k: None for k in TRAINING_STATE_KEYS} | {"rng": rng_state()})

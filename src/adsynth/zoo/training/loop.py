"""The training loops: the gradient phase (epochs of ``training_step``), the fitting pass, and the
checkpoints they write. One :class:`RunState` carries what a run shares; :class:`GradientLoop` adds what
the gradient phase owns (optimizers, scaler, the wrapped step, sampler, metrics log)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from adsynth.errors import TrainingError
from adsynth.progress import Progress
from adsynth.zoo.checkpoint import (
    LAST_FILE,
    MODEL_FILE,
    TRAINING_STATE_KEYS,
    make_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from adsynth.zoo.data import EpochSampler, WorkerInit, epoch_generator
from adsynth.zoo.training.amp import autocast, to_device
from adsynth.zoo.training.config import TrainConfig
from adsynth.zoo.training.distributed import Dist, broadcast_model, check_distributable, sync_gradients
from adsynth.zoo.training.optimizers import Optimizers, TrainingStep
from adsynth.zoo.training.runlog import RunLog


@dataclass
class RunState:
    """One run: its resolved config, model, data and device, and the counters checkpoints record.

    Attributes:
        cfg: the resolved :class:`TrainConfig` (every default filled in).
        model: the :class:`~adsynth.zoo.base.AnomalyModel`, on ``device``.
        dataset: the training :class:`~adsynth.zoo.data.ZooDataset`.
        device, dist: where this process runs, and its rank.
        out: the run folder.
        amp_dtype: autocast dtype (None: full precision).
        channels_last: 4-D batches in channels-last memory format (CUDA).
        fields: checkpoint fields fixed for the run (``train_config``, ``data_fingerprint``).
        fitted: the fitting pass has run on the current weights.
        epoch, step: completed epochs and optimisation steps.
        metrics: the last epoch's mean losses (or the fitting pass's).
        images_per_s: the last measured throughput.
        training_state: the last gradient epoch's optimizer, scheduler, scaler and RNG states (what
            ``last.pt`` carries for ``--resume``); None before any gradient epoch.

    The dataset comes complete from :func:`~adsynth.zoo.training.dataset.build_training_dataset` (windows
    of ``--crop``, rotation, real defects, recipe); the fitting pass reads its ``normal_view()``.
    """

    cfg: TrainConfig
    model: nn.Module
    dataset: Any
    device: torch.device
    dist: Dist
    out: Path
    amp_dtype: torch.dtype | None
    channels_last: bool
    fields: dict[str, Any]
    fitted: bool = False
    epoch: int = 0
    step: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    images_per_s: float = 0.0
    training_state: dict[str, Any] | None = None

    def save(self, with_training_state: bool = True) -> None:
        """Write ``model.pt`` and (with ``with_training_state``) ``last.pt``."""
        meta = {
            **self.fields,
            "epoch": self.epoch,
            "step": self.step,
            "fitted": self.fitted,
            "metrics": dict(self.metrics),
        }
        if with_training_state:
            training = self.training_state or {k: None for k in TRAINING_STATE_KEYS} | {"rng": rng_state()}
            save_checkpoint(self.out / LAST_FILE, make_checkpoint(self.model, **meta, **training))
        save_checkpoint(self.out / MODEL_FILE, make_checkpoint(self.model, **meta))

    def loader(
        self, sampler, epoch: int, training: bool = False, dataset: Any = None
    ) -> torch.utils.data.DataLoader:
        """The DataLoader of one pass over ``sampler``'s order of ``dataset`` (default the run's), its
        workers seeded from the run and rank.

        With ``training`` (the gradient phase), a last batch of one sample is dropped when the model
        has BatchNorm layers; the fit phase sees every image.
        """
        n, size = len(sampler), self.cfg.batch_size
        # A last batch of one sample cannot train BatchNorm ("expected more than 1 value per channel"):
        # drop it (the sampler's order changes every epoch, so no sample is always left out).
        lone_last = training and n > size and n % size == 1 and _has_batchnorm(self.model)
        return torch.utils.data.DataLoader(
            self.dataset if dataset is None else dataset,
            batch_size=size,
            sampler=sampler,
            num_workers=self.cfg.workers,
            pin_memory=self.device.type == "cuda",
            drop_last=lone_last,
            worker_init_fn=WorkerInit(self.cfg.seed, self.dist.rank),
            # A dedicated generator: creating the iterator must not consume the global torch RNG.
            generator=epoch_generator(self.cfg.seed, epoch, stream=1),
        )


def _has_batchnorm(model: torch.nn.Module) -> bool:
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


class GradientLoop:
    """The gradient phase of ``run``: epochs ``run.epoch`` .. ``cfg.epochs`` of ``training_step``.

    Args:
        run: the run (its ``epoch``/``step``/``metrics`` are taken from ``resume`` when given).
        resume: the ``last.pt`` dict to continue from, or None.
        on_epoch_end: called on rank 0 as ``on_epoch_end(epochs_done, mean_losses)`` after each epoch's
            checkpoints are written.
    """

    def __init__(
        self,
        run: RunState,
        resume: dict[str, Any] | None,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None,
    ) -> None:
        cfg, d = run.cfg, run.dist
        check_distributable(run.model, d)
        self.run, self.on_epoch_end = run, on_epoch_end
        self.opts = Optimizers.of(run.model.configure_optimizers(lr=cfg.lr, epochs=cfg.epochs))
        self.scaler = torch.amp.GradScaler("cuda", enabled=run.amp_dtype == torch.float16)
        self.params = list(run.model.parameters())
        if resume is not None:
            loaded = self.opts.load(resume)
            if resume.get("scaler"):
                self.scaler.load_state_dict(resume["scaler"])
            set_rng_state(resume["rng"])
            run.epoch, run.step = int(resume["epoch"]), int(resume["step"])
            run.metrics = dict(resume.get("metrics", {}))
            if loaded:
                run.training_state = self._training_state(resume["rng"])

        step_module: nn.Module = TrainingStep(run.model)
        if d.world > 1 and self.opts.multi:
            # Alternating losses (a GAN's generator and discriminator steps) each touch part of the model
            # and some steps are idle: DDP's one-backward-per-forward bookkeeping does not fit, so gradients
            # are averaged by hand after each backward, and the ranks start from rank 0's weights.
            broadcast_model(run.model)
        elif d.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            step_module = DistributedDataParallel(
                step_module, device_ids=[run.device.index] if run.device.type == "cuda" else None
            )
        if cfg.compile:
            step_module = torch.compile(step_module)
        self.step_module = step_module
        if d.world > 1:
            from torch.utils.data.distributed import DistributedSampler

            self.sampler = DistributedSampler(
                run.dataset, num_replicas=d.world, rank=d.rank, shuffle=True, seed=cfg.seed
            )
        elif getattr(run.dataset, "real", None) is not None:
            from adsynth.zoo.real_defects import RealDefectSampler

            self.sampler = RealDefectSampler(
                len(run.dataset), len(run.dataset.real), cfg.real_fraction, seed=cfg.seed
            )
        else:
            self.sampler = EpochSampler(len(run.dataset), seed=cfg.seed)
        self.log = RunLog(run.out, keep_epochs=run.epoch if resume is not None else None, enabled=d.main)

    def _training_state(self, rng: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.opts.state(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "rng": rng,
        }

    def run_epochs(self) -> None:
        """Train to ``cfg.epochs``, writing both checkpoints after every epoch (rank 0)."""
        run, cfg = self.run, self.run.cfg
        try:
            for epoch in range(run.epoch, cfg.epochs):
                run.dataset.set_epoch(epoch)
                self.sampler.set_epoch(epoch)
                run.model.on_epoch_start(epoch, cfg.epochs)
                run.model.train()
                means = self.run_epoch(epoch)
                self.opts.step_schedulers()
                run.epoch, run.metrics = epoch + 1, means
                if run.dist.main:
                    run.training_state = self._training_state(rng_state())
                    run.save()
                    if self.on_epoch_end is not None:
                        self.on_epoch_end(epoch + 1, means)
        finally:
            self.log.close()

    def run_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the data; returns the epoch's mean of each logged term."""
        run, cfg = self.run, self.run.cfg
        loader = run.loader(self.sampler, epoch, training=True)
        meter = _EpochMeter(self, epoch)
        mode = cfg.progress if run.dist.main else "quiet"
        with Progress(len(loader), f"epoch {epoch + 1}/{cfg.epochs}", mode) as bar:
            meter.bar = bar
            for batch in loader:
                batch = to_device(batch, run.device, run.channels_last)
                terms = self._batch_step(batch)
                run.step += 1
                n = int(batch["image"].shape[0]) * run.dist.world
                bar.update(1, items=n)
                meter.add(terms, int(batch["image"].shape[0]))
            meter.flush()
            means = meter.means()
            if "loss" in means:
                bar.fields["loss"] = means["loss"]
        return means

    def _batch_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Every optimizer's step on one batch; returns the logged terms (empty: all were idle)."""
        opts, model = self.opts, self.run.model
        merged: dict[str, torch.Tensor] = {}
        for i, (opt, _) in enumerate(opts.pairs):
            with autocast(self.run.device, self.run.amp_dtype):
                terms = self.step_module(batch, i) if opts.multi else self.step_module(batch)
            if terms is None and opts.multi:
                continue
            if not isinstance(terms, dict) or "loss" not in terms:
                raise TypeError(f"{type(model).__name__}: training_step must return a dict with `loss`")
            self._backward_and_step(terms["loss"], opt)
            if opts.multi:
                loss = terms["loss"].detach()
                merged["loss"] = merged["loss"] + loss if "loss" in merged else loss
                merged[f"loss_{i}"] = loss
                merged.update({k: v.detach() for k, v in terms.items() if k != "loss"})
            else:
                merged = {"loss": terms["loss"], **{k: v for k, v in terms.items() if k != "loss"}}
        if merged:
            # Once per batch, after every optimizer stepped (the multi-optimizer AMP recipe).
            self.scaler.update()
        return merged

    def _backward_and_step(self, loss: torch.Tensor, opt: torch.optim.Optimizer) -> None:
        if self.opts.multi:
            for p in self.params:
                p.grad = None
        else:
            opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.opts.multi and self.run.dist.world > 1:
            sync_gradients(opt, self.run.dist.world)
        self.scaler.step(opt)


class _EpochMeter:
    """The loss terms of one epoch: a metrics row every ``log_every`` steps (with a finiteness check of
    the losses, done in batches so that the GPU is not synchronised every step) and the epoch means."""

    def __init__(self, loop: GradientLoop, epoch: int) -> None:
        self.loop, self.epoch = loop, epoch
        self.bar = None
        self.pending: list[dict[str, Any]] = []
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.n_images = 0
        self.t_last = time.perf_counter()

    def add(self, terms: dict[str, torch.Tensor], n_images: int) -> None:
        run = self.loop.run
        self.n_images += n_images
        if terms:
            self.pending.append({**terms, "_step": run.step})
        if len(self.pending) >= max(1, run.cfg.log_every):
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        run, rows = self.loop.run, list(self.pending)
        losses = torch.stack([p["loss"].detach().float() for p in rows]).cpu()
        if not torch.isfinite(losses).all():
            first = int((~torch.isfinite(losses)).nonzero()[0])
            last = run.epoch
            kept = f"{run.out / MODEL_FILE} (epoch {last})" if last else "none (no epoch finished)"
            raise TrainingError(
                f"non-finite loss ({float(losses[first])}) at epoch {self.epoch + 1}, "
                f"step {rows[first]['_step']}; training stopped, last good checkpoint: {kept}"
            )
        # Steps may log different terms (an idle optimizer, a phase of a GAN): each key is averaged over
        # the steps that logged it.
        mean: dict[str, float] = {}
        for k in dict.fromkeys(k for p in rows for k in p):
            if k == "_step":
                continue
            vals = torch.stack([p[k].detach().float() for p in rows if k in p]).cpu()
            mean[k] = float(vals.mean())
            self.sums[k] = self.sums.get(k, 0.0) + float(vals.sum())
            self.counts[k] = self.counts.get(k, 0) + len(vals)
        now = time.perf_counter()
        ips = self.n_images / max(now - self.t_last, 1e-9) * run.dist.world
        run.images_per_s = ips
        self.loop.log.log(self.epoch + 1, run.step, mean, ips, self.loop.opts.lr)
        if self.bar is not None and "loss" in mean:
            self.bar.update(0, loss=mean["loss"])
        self.pending.clear()
        self.n_images, self.t_last = 0, now

    def means(self) -> dict[str, float]:
        return {k: v / self.counts[k] for k, v in self.sums.items()}


def fit_phase(run: RunState) -> None:
    """One pass of ``fit_batch`` over the training images in order, ``fit_end``, then the checkpoints:
    ``model.pt``, and ``last.pt`` for a model with a gradient phase (a fit-only model has no training
    state to resume).

    ``last.pt`` keeps the gradient phase's training state (when there was one), so that a run continued
    with more epochs resumes its optimizers where they stopped.
    """
    data = run.dataset.normal_view()
    loader = run.loader(EpochSampler(len(data), shuffle=False), 0, dataset=data)
    run.model.eval()
    t = time.perf_counter()
    n = 0
    with torch.no_grad(), Progress(len(loader), "fit", run.cfg.progress) as bar:
        for batch in loader:
            run.model.fit_batch(to_device(batch, run.device, run.channels_last))
            n += int(batch["image"].shape[0])
            bar.update(1, items=int(batch["image"].shape[0]))
        run.model.fit_end()
    run.images_per_s = n / max(time.perf_counter() - t, 1e-9)
    run.fitted = True
    # A fit-only model has no training state: model.pt alone (last.pt would be a byte-for-byte copy).
    run.save(with_training_state=type(run.model).fit_mode != "fit")

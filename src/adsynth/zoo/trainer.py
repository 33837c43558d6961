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

Training uses the ``train`` split's normal images, and with ``real_defects`` (``all`` or ``labels-only``)
its defective photos too, for a model that declares that supervision (:mod:`adsynth.zoo.real_defects`;
``synthetic=False`` leaves the synthetic anomalies out: the real-only baseline). When the model
``uses_synthetic`` (or a recipe is given) each item also carries ``aug_image``/``aug_mask``/``aug_label``,
synthesised in the DataLoader worker from ``np.random.default_rng([seed, epoch, row])`` (see
:mod:`adsynth.zoo.data`).

On CUDA: mixed precision (bf16 where supported, else fp16 with a gradient scaler), channels-last
tensors, pinned memory with non-blocking copies and optional ``torch.compile``. On CPU the run is
deterministic for a given seed, and ``resume`` continues to the same weights as an uninterrupted run.
Under ``torchrun`` (``WORLD_SIZE > 1``) the gradient phase runs with DistributedDataParallel (NCCL on
CUDA, Gloo on CPU) and a DistributedSampler; rank 0 alone writes checkpoints and logs, and runs the
fitting pass. Every rank must be able to read the data file (and ``last.pt`` when resuming).

The parts live in :mod:`adsynth.zoo.training`: ``config`` (:class:`TrainConfig`, defaults, resume
rules), ``loop`` (the run state, the gradient loop, the fitting pass), ``optimizers``, ``runlog``
(``metrics.csv``, TensorBoard, the run folder), ``distributed`` and ``amp``. ``--seed`` is also the
``seed`` hyper-parameter of every model whose constructor declares one (unless ``hparams`` sets it).

Example:
    >>> from adsynth.zoo.trainer import TrainConfig, train
    >>> result = train(TrainConfig(model="ae", data="train.h5", out="runs/ae", epochs=10))  # doctest: +SKIP
    >>> result.checkpoint  # doctest: +SKIP
    PosixPath('runs/ae/model.pt')
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from adsynth.errors import ConfigError
from adsynth.zoo.checkpoint import LAST_FILE, MODEL_FILE, data_fingerprint, read_checkpoint
from adsynth.zoo.device import resolve_device
from adsynth.zoo.training.amp import amp_dtype
from adsynth.zoo.training.config import TrainConfig, TrainResult, merge_resume, model_kwargs, resolve
from adsynth.zoo.training.dataset import build_training_dataset
from adsynth.zoo.training.distributed import Dist, finish_distributed, init_distributed
from adsynth.zoo.training.loop import GradientLoop, RunState, fit_phase
from adsynth.zoo.training.runlog import prepare_out, write_config

__all__ = ["TrainConfig", "TrainResult", "resolve_device", "train"]


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
        ConfigError: a missing model, dataset or run folder, an invalid option, or a resume that does
            not match the saved run.
        OutputExistsError: ``out`` already holds a run and neither ``overwrite`` nor ``resume`` is set.
        TrainingError: a non-finite loss; the last good checkpoint is kept.

    A run that fails before its first checkpoint removes the run folder it created (an existing
    folder with files is left as it was).
    """
    from adsynth.fsutil import remove_on_failure

    t0 = time.perf_counter()
    device = resolve_device(config.device)
    dist_info, device = init_distributed(device)
    try:
        if config.out is None:
            raise ConfigError("expected `out`, the run folder")
        # A run that fails before its first epoch is saved leaves no folder behind (rank 0 owns it).
        with remove_on_failure(config.out, keep_if=(LAST_FILE, MODEL_FILE), enabled=dist_info.main):
            result = _train(config, device, dist_info, on_epoch_end, t0)
        if dist_info.world > 1:
            # Every rank finished (rank 0 has written its checkpoints) before any leaves the group: a rank
            # that tears down its Gloo connections while a peer still uses them aborts (SIGABRT).
            import torch.distributed as dist

            dist.barrier()
        return result
    finally:
        finish_distributed(dist_info)


def _train(cfg: TrainConfig, device: torch.device, d: Dist, on_epoch_end, t0: float) -> TrainResult:
    from adsynth.zoo import create_model, load_models
    from adsynth.zoo.base import MODELS

    load_models()
    out = prepare_out(Path(cfg.out), cfg.resume, cfg.overwrite, d.main)
    resume_ckpt = None
    if cfg.resume:
        resume_ckpt = read_checkpoint(out / LAST_FILE)
        cfg = merge_resume(cfg, resume_ckpt["train_config"])
    if cfg.model is None or cfg.data is None:
        raise ConfigError("expected a model and a training dataset (--model, --data)")
    fingerprint = data_fingerprint(cfg.data)
    if resume_ckpt is not None and resume_ckpt.get("data_fingerprint") != fingerprint:
        raise ConfigError(f"cannot resume: {cfg.data} is not the dataset this run was trained on")

    cls = MODELS.get(cfg.model)
    from adsynth.data import DatasetReader

    reader = DatasetReader(cfg.data)
    cfg = resolve(cfg, cls, min(reader.shape[:2]))
    grad = cls.fit_mode in ("gradient", "both")
    fit = cls.fit_mode in ("fit", "both")

    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, **model_kwargs(cfg, cls, reader.channels))
    if resume_ckpt is not None:
        model.load_state_dict(resume_ckpt["state_dict"])
    dataset = build_training_dataset(cfg, model, gradient=grad, world=d.world)
    model.synthetic_anomalies = cfg.synthetic is not False
    record = cfg.record()
    if d.main:
        write_config(out, record, cfg.model, model.config())

    channels_last = device.type == "cuda"
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    run = RunState(
        cfg=cfg,
        model=model,
        dataset=dataset,
        device=device,
        dist=d,
        out=out,
        amp_dtype=amp_dtype(device, cfg.amp),
        channels_last=channels_last,
        fields={
            "train_config": record,
            "data_fingerprint": fingerprint,
            "data_resize": dataset.import_resize,  # how predict fits photos by default
        },
    )
    if resume_ckpt is not None:
        run.fitted = bool(resume_ckpt.get("fitted"))
        if run.fitted and grad and int(resume_ckpt["epoch"]) < cfg.epochs:
            run.fitted = False  # more gradient epochs make the fitted statistics stale: fit again afterwards
    if grad:
        if not cfg.crop:  # whole normal images, nothing synthesised (tiled windows change per epoch)
            model.on_train_start(dataset.normal_view())
        GradientLoop(run, resume_ckpt, on_epoch_end).run_epochs()
    elif resume_ckpt is not None:
        run.epoch, run.step = int(resume_ckpt["epoch"]), int(resume_ckpt["step"])
    fitted_images = 0
    if fit and d.main and not run.fitted:
        fit_phase(run)
        fitted_images = len(dataset)
    elif fit and run.fitted:
        run.metrics = dict(resume_ckpt.get("metrics", {}))
    return TrainResult(
        out=out,
        checkpoint=out / MODEL_FILE,
        epochs=run.epoch,
        steps=run.step,
        metrics=run.metrics,
        images_per_s=run.images_per_s,
        seconds=time.perf_counter() - t0,
        fitted_images=fitted_images,
        image_size=cfg.image_size,
        real_defects=len(dataset.real) if dataset.real is not None else 0,
    )

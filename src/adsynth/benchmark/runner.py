"""Run a benchmark's cells: train, predict, evaluate per defect type, one folder per cell.

A cell's folder ``cells/<id>/`` holds its run (``run/model.pt``, ``metrics.csv``), ``maps.h5`` and
``report/``; ``cell.json`` (its metric rows, timings, versions and the cell's hash) is written atomically
last, so it marks a finished cell. The run's ``last.pt`` (optimizer and RNG state, there to resume an
interrupted training) is deleted once the cell is finished: it is most of a cell's size, and a finished
cell is never trained again. ``--resume`` keeps every cell whose ``cell.json`` matches the
configuration; a cell without it (interrupted, killed, failed) is removed and redone.

Cells run one after another in this process (on its ``device``); parallel work is several processes,
each with its own ``--shard i/n`` (and ``--device cuda:i`` or ``CUDA_VISIBLE_DEVICES``) on one output
folder, then ``adsynth benchmark merge``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adsynth.benchmark.config import BenchConfig, Cell, shard_cells
from adsynth.benchmark.layout import CELL_FILE, CONFIG_FILE, FAILED_FILE, read_finished
from adsynth.benchmark.merge import write_outputs
from adsynth.errors import ConfigError, OutputExistsError, UsageError
from adsynth.fsutil import atomic_write_bytes
from adsynth.zoo.precheck import LAST_FILE


@dataclass
class RunSummary:
    out: Path
    ran: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def versions() -> dict[str, str]:
    import numpy
    import torch

    from adsynth import __version__

    return {
        "adsynth": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode("utf-8"))


def _prepare_out(cfg: BenchConfig, out: Path, cells: list[Cell], resume: bool, overwrite: bool) -> None:
    """Refuse to mix with another benchmark's folder; without resume, refuse this run's existing cells."""
    out.mkdir(parents=True, exist_ok=True)
    saved = out / CONFIG_FILE
    if saved.exists() and not (resume or overwrite):
        try:
            old = json.loads(saved.read_text()).get("config_hash")
        except (OSError, ValueError):
            old = None
        if old != cfg.hash():
            raise OutputExistsError(
                f"{out} holds another benchmark (config hash {old}); use --resume, --overwrite or a new --out"
            )
    existing = [c.id for c in cells if (out / "cells" / c.id).exists()]
    if existing and overwrite:
        for cid in existing:
            shutil.rmtree(out / "cells" / cid)
    elif existing and not resume:
        raise OutputExistsError(
            f"{out} already holds cell {existing[0]} of this run; use --resume to keep finished cells "
            "or --overwrite to redo them"
        )
    write_json(saved, cfg.to_dict())


def _import_datasets(cfg: BenchConfig, log: Callable[[str], None]) -> None:
    """Import the folders, write the subsets and the fewshot splits of the config (once; shards may race
    for it)."""
    from adsynth.data.fewshot import split_defects
    from adsynth.data.importers import import_dataset

    for d in cfg.datasets:
        if not (d.folder or d.subset or d.fewshot):
            continue
        # what the file was made from, beside it: a changed subset or import is made again
        spec = {"folder": d.folder, "import": d.import_args, "subset": d.subset, "source": d.source}
        if d.fewshot is not None:
            spec["fewshot"] = d.fewshot
        side = Path(d.train).with_name(f".{Path(d.train).name}.spec.json")
        try:
            same = json.loads(side.read_text()) == json.loads(json.dumps(spec))
        except (OSError, ValueError):
            same = False
        if same and Path(d.train).is_file():
            continue
        Path(d.train).parent.mkdir(parents=True, exist_ok=True)
        # Each process writes a private file, then renames it into place: shards that start together
        # each write the same (seeded) file, and no reader ever sees a half-written one.
        tmp = Path(d.train).with_name(f".{Path(d.train).stem}.{os.getpid()}.h5")
        if d.folder:
            log(f"importing {d.folder} -> {d.train}")
            import_dataset(d.folder, tmp, overwrite=True, **d.import_args)
        elif d.fewshot:
            log(f"moving defective photos {d.fewshot} of {d.source} to training -> {d.train}")
            split_defects(d.source, tmp, overwrite=True, **d.fewshot)
        else:
            log(f"writing the subset {d.subset} of {d.source} -> {d.train}")
            write_subset(d.source, tmp, d.split, **d.subset)
        os.replace(tmp, d.train)
        write_json(side, spec)


def write_subset(
    source, out, split: str, train: int | None, test_per_type: int | None, seed: int = 0
) -> None:
    """A seeded subset of ``source``: ``train`` normal training images and at most ``test_per_type``
    ``split`` images of each defect type (normal ones included), in the source's order."""
    import numpy as np

    from adsynth.data import DatasetWriter
    from adsynth.data.reader import DatasetReader

    rng = np.random.default_rng([seed, 0x5B5E])
    tr = DatasetReader(source, split="train", label="normal")
    te = DatasetReader(source, split=split)
    pick_tr = np.arange(len(tr)) if train is None else np.sort(rng.permutation(len(tr))[:train])
    types = np.array(te.defect_types, dtype=object)
    pick_te = []
    for t in dict.fromkeys(te.defect_types):
        idx = np.flatnonzero(types == t)
        pick_te += list(idx if test_per_type is None else np.sort(rng.permutation(idx)[:test_per_type]))
    h, w, c = tr.shape
    settings = {"subset_of": str(source), "train": len(pick_tr), "test_per_type": test_per_type, "seed": seed}
    with DatasetWriter(
        out, height=h, width=w, channels=c, seed=seed, settings=settings, overwrite=True
    ) as wr:
        for reader, picks, sp in ((tr, pick_tr, "train"), (te, sorted(pick_te), split)):
            for i in picks:
                s = reader[int(i)]
                mask = s["mask"] if s["label"] else None
                wr.append(
                    s["image"], mask, label=s["label"], defect_type=s["defect_type"], split=sp, name=s["name"]
                )


def run_benchmark(
    cfg: BenchConfig,
    out: str | os.PathLike,
    *,
    resume: bool = False,
    overwrite: bool = False,
    shard: str | None = None,
    log: Callable[[str], None] | None = None,
    write_results: bool | None = None,
) -> RunSummary:
    """Run every cell of ``cfg`` (or of one ``shard`` ``"i/n"``) into ``out``.

    Without a shard the results, matrices and rankings are written at the end
    (:func:`adsynth.benchmark.merge.write_outputs`); a shard writes its cells only (then ``merge``).

    Raises:
        OutputExistsError: ``out`` holds another benchmark, or cells of this run without ``resume``.
        UsageError: ``resume`` and ``overwrite`` together.
    """
    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    log = log or (lambda s: None)
    t0 = time.perf_counter()
    out = Path(out)
    cells = shard_cells(cfg.cells(), shard)
    _prepare_out(cfg, out, cells, resume, overwrite)
    _import_datasets(cfg, log)
    summary = RunSummary(out)
    for k, cell in enumerate(cells, 1):
        folder = out / "cells" / cell.id
        if read_finished(folder, cfg.cell_hash(cell)) is not None:
            summary.kept.append(cell.id)
            log(f"[{k}/{len(cells)}] {cell.id}: finished before, kept")
            continue
        if folder.exists():
            shutil.rmtree(folder)  # an interrupted or failed cell, or one of another configuration
        folder.mkdir(parents=True)
        try:
            rec = run_cell(cfg, cell, folder)
        except (KeyboardInterrupt, ConfigError):
            raise
        except Exception as e:  # noqa: BLE001 - one failed cell (NaN loss, out of memory) is recorded
            msg = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            write_json(folder / FAILED_FILE, {"cell": cell.id, "error": msg})
            summary.failed[cell.id] = msg
            log(f"[{k}/{len(cells)}] {cell.id}: FAILED {msg}")
            continue
        summary.ran.append(cell.id)
        t = rec["timings"]
        log(
            f"[{k}/{len(cells)}] {cell.id}: {rec['epochs']} epochs, train {t['train_s']:.1f} s, "
            f"predict {t['predict_s']:.1f} s, eval {t['eval_s']:.1f} s"
        )
    if write_results if write_results is not None else shard is None:
        manifest = cfg.to_dict()
        write_outputs(out, manifest, partial=True)
    summary.seconds = time.perf_counter() - t0
    return summary


def _train_config(cfg: BenchConfig, cell: Cell, run_dir: Path, epochs: int | None, resume: bool = False):
    from adsynth.zoo.trainer import TrainConfig

    m, spec = cfg.model(cell.model), cfg.cell_spec(cell)
    return TrainConfig(
        model=None if resume else m.model,
        data=cfg.dataset(cell.dataset).train,
        out=run_dir,
        epochs=epochs,
        batch_size=None if resume else spec["batch_size"],
        lr=None if resume else spec["lr"],
        image_size=None if resume else spec["image_size"],
        device=cfg.device,
        workers=cfg.workers,
        seed=None if resume else cell.seed,
        recipe=None if resume else cfg.recipes.get(cell.recipe),
        textures=None if resume else cfg.textures,
        hparams={} if resume else dict(m.hparams),
        real_defects=None if resume else m.real_defects,
        synthetic=None if resume else m.synthetic,
        resume=resume,
        overwrite=not resume,
        progress="quiet",
    )


def _train(cfg: BenchConfig, cell: Cell, run_dir: Path):
    """Train with the cell's budget: ``epochs``, or ``minutes`` (one epoch is timed, then the run is
    resumed to the number of epochs that fit; wall-clock, so not reproducible across machines)."""
    from adsynth.zoo.base import MODELS
    from adsynth.zoo.trainer import train

    spec = cfg.cell_spec(cell)
    minutes = spec["minutes"] if spec["epochs"] is None else None
    grad = MODELS.get(cfg.model(cell.model).model).fit_mode in ("gradient", "both")
    if minutes is None or not grad:
        return train(_train_config(cfg, cell, run_dir, spec["epochs"]))
    t0 = time.perf_counter()
    res = train(_train_config(cfg, cell, run_dir, 1))
    per_epoch = time.perf_counter() - t0
    epochs = max(1, int(minutes * 60 // max(per_epoch, 1e-6)))
    if epochs > 1:
        res = train(_train_config(cfg, cell, run_dir, epochs, resume=True))
    return res


def run_cell(cfg: BenchConfig, cell: Cell, folder: Path) -> dict[str, Any]:
    """Train, predict and evaluate one cell in ``folder``; write and return its ``cell.json`` record."""
    from adsynth.evaluate.metrics import Undefined
    from adsynth.evaluate.report import format_markdown, write_report
    from adsynth.evaluate.runner import evaluate_files, image_getter
    from adsynth.zoo.base import MODELS
    from adsynth.zoo.components.synthetic_features import SyntheticFeatureModel
    from adsynth.zoo.deploy.predict import predict_dataset
    from adsynth.zoo.device import resolve_device

    d, m = cfg.dataset(cell.dataset), cfg.model(cell.model)
    t0 = time.perf_counter()
    res = _train(cfg, cell, folder / "run")
    t1 = time.perf_counter()
    pred = predict_dataset(
        res.checkpoint, d.test, folder / "maps.h5", split=d.split, device=cfg.device,
        batch_size=cfg.cell_spec(cell)["batch_size"] or 16, overwrite=True,
    )  # fmt: skip
    t2 = time.perf_counter()
    report, ds = evaluate_files(d.test, pred.path, split=d.split, limit=cfg.pro_limit)
    if cfg.plots:
        write_report(report, folder / "report", overwrite=True, get_image=image_getter(ds))
    else:
        (folder / "report").mkdir(exist_ok=True)
        atomic_write_bytes(folder / "report" / "metrics.md", format_markdown(report).encode("utf-8"))
        write_json(folder / "report" / "metrics.json", report.to_dict())
    t3 = time.perf_counter()
    synthetic_test = "recipe" in (ds.settings or {})
    rows = []
    for dtype, metrics in report.rows.items():
        counts = report.counts[dtype]
        for metric, v in metrics.items():
            rows.append(
                {
                    "defect_type": dtype,
                    "metric": metric,
                    "value": None if isinstance(v, Undefined) else float(v),
                    "n_normal": counts["n_normal"],
                    "n_anomalous": counts["n_anomalous"],
                }
            )
    rec = {
        "cell": cell.id,
        "dataset": cell.dataset,
        "model": cell.model,
        "model_name": m.model,
        "uses_synthetic": m.uses_synthetic,
        # SimpleNet, SuperSimpleNet: anomalies made in feature space, no recipe (the few-shot report says so)
        "feature_noise": issubclass(MODELS.get(m.model), SyntheticFeatureModel),
        "recipe": cell.recipe,
        "recipe_source": cfg.recipes.get(cell.recipe),
        "real_defects": m.real_defects,
        "synthetic": m.synthetic,
        "fewshot": None if d.fewshot is None else {"group": d.group, **d.fewshot},
        "seed": cell.seed,
        "epochs": res.epochs,
        "test_defects": "synthetic" if synthetic_test else "real",
        "defect_types": [t for t in report.rows],
        "timings": {
            "train_s": t1 - t0,
            "predict_s": t2 - t1,
            "eval_s": t3 - t2,
            "predict_ms_per_image": 1000 * pred.seconds / max(pred.n, 1),
        },
        "device": str(resolve_device(cfg.device)),
        "versions": versions(),
        "cell_hash": cfg.cell_hash(cell),
        "config_hash": cfg.hash(),
        "rows": rows,
    }
    write_json(folder / CELL_FILE, rec)
    (folder / "run" / LAST_FILE).unlink(missing_ok=True)  # the finished cell is never resumed
    return rec

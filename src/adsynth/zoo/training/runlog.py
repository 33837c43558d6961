"""The run folder's files besides the checkpoints: ``metrics.csv``, TensorBoard, ``config.json``, and the
rules for starting, replacing or resuming a run in a folder."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from adsynth.zoo.checkpoint import LAST_FILE, MODEL_FILE
from adsynth.zoo.precheck import check_run_folder

METRICS_FILE = "metrics.csv"
CONFIG_FILE = "config.json"
TENSORBOARD_DIR = "tensorboard"


class RunLog:
    """Rank-0 metric rows: ``metrics.csv`` (and TensorBoard when the package is installed).

    Args:
        out: the run folder.
        keep_epochs: when resuming, the epochs the checkpoint holds; later rows are dropped.
        enabled: False on every rank but 0 (nothing is written).
    """

    def __init__(self, out: Path, keep_epochs: int | None, enabled: bool) -> None:
        self.path = out / METRICS_FILE
        self.enabled = enabled
        self.fields: list[str] | None = None
        self.tb = None
        if not enabled:
            return
        if keep_epochs is not None and self.path.exists():
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
        """Append one row (the mean of each loss term since the last row)."""
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


def prepare_out(out: Path, resume: bool, overwrite: bool, main: bool) -> Path:
    """Check the run folder for a new, replaced or resumed run; clear a replaced run's files on rank 0.

    Raises:
        ConfigError: resuming without a ``last.pt``.
        OutputExistsError: ``model.pt`` exists and neither ``resume`` nor ``overwrite`` is set.
    """
    model_file, last_file = out / MODEL_FILE, out / LAST_FILE
    check_run_folder(out, resume, overwrite)
    if resume:
        return out
    if main:
        out.mkdir(parents=True, exist_ok=True)
        for p in (model_file, last_file, out / METRICS_FILE):
            if p.exists():
                p.unlink()
        if (out / TENSORBOARD_DIR).is_dir():
            shutil.rmtree(out / TENSORBOARD_DIR)
    return out


def write_config(out: Path, record: dict[str, Any], model_name: str, model_config: dict[str, Any]) -> None:
    """``config.json``: the run's configuration and the model's, for people and other tools."""
    doc = {"train_config": record, "model": model_name, "model_config": model_config}
    source = model_config.get("weights_source")
    if source is not None:
        # The model's config asks a rebuild for no pretrained weights (they are in model.pt): for people,
        # say where the backbone's weights came from instead of a bare "pretrained": false.
        doc["backbone_weights"] = {
            "source": source,
            "pretrained": source != "random-init",
            "stored_in_checkpoint": True,
            "note": "model_config.pretrained is false because model.pt carries these weights",
        }
    (out / CONFIG_FILE).write_text(json.dumps(doc, indent=2, default=str) + "\n")

"""The tidy results table: one row per (cell, defect type, metric), with timings, versions and hashes.

Written as ``results.csv``, ``results.json`` and ``results.parquet`` (when pyarrow is installed).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from adsynth.benchmark.layout import CELL_FILE, FAILED_FILE, read_finished
from adsynth.fsutil import atomic_path, atomic_write_bytes

COLUMNS = [
    "dataset", "model", "model_name", "uses_synthetic", "recipe", "seed", "defect_type", "metric",
    "value", "n_normal", "n_anomalous", "test_defects", "epochs", "train_s", "predict_s", "eval_s",
    "predict_ms_per_image", "device", "adsynth_version", "torch_version", "cell", "cell_hash",
    "config_hash",
]  # fmt: skip
#: columns that describe the result (timings and devices are not: they differ between equal runs)
RESULT_COLUMNS = [
    "dataset", "model", "model_name", "uses_synthetic", "recipe", "seed", "defect_type", "metric",
    "value", "n_normal", "n_anomalous", "test_defects", "epochs", "cell",
]  # fmt: skip


def collect(sources: list[Path], manifest: dict) -> tuple[list[dict], list[str], dict[str, str]]:
    """The finished cells' records in the manifest's order (looked up in each source folder), the
    missing cells and the failed ones (cell -> error)."""
    records, missing, failed = [], [], {}
    for cid, chash in manifest["cells"].items():
        for src in sources:
            rec = read_finished(src / "cells" / cid, chash)
            if rec is not None:
                records.append(rec)
                break
        else:
            missing.append(cid)
            for src in sources:
                try:
                    failed[cid] = json.loads((src / "cells" / cid / FAILED_FILE).read_text())["error"]
                except (OSError, ValueError, KeyError):
                    continue
    return records, missing, failed


def tidy_rows(records: list[dict], config_hash: str) -> list[dict[str, Any]]:
    rows = []
    for rec in records:
        t, v = rec["timings"], rec["versions"]
        for r in rec["rows"]:
            rows.append(
                {
                    "dataset": rec["dataset"],
                    "model": rec["model"],
                    "model_name": rec["model_name"],
                    "uses_synthetic": rec["uses_synthetic"],
                    "recipe": rec["recipe"],
                    "seed": rec["seed"],
                    "defect_type": r["defect_type"],
                    "metric": r["metric"],
                    "value": r["value"],
                    "n_normal": r["n_normal"],
                    "n_anomalous": r["n_anomalous"],
                    "test_defects": rec["test_defects"],
                    "epochs": rec["epochs"],
                    "train_s": round(t["train_s"], 3),
                    "predict_s": round(t["predict_s"], 3),
                    "eval_s": round(t["eval_s"], 3),
                    "predict_ms_per_image": round(t["predict_ms_per_image"], 3),
                    "device": rec["device"],
                    "adsynth_version": v.get("adsynth"),
                    "torch_version": v.get("torch"),
                    "cell": rec["cell"],
                    "cell_hash": rec["cell_hash"],
                    "config_hash": config_hash,
                }
            )
    return rows


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """``results.json``'s rows."""
    return json.loads(Path(path).read_text())["rows"]


def write_results(out: Path, rows: list[dict], meta: dict[str, Any]) -> list[Path]:
    """``results.csv``, ``results.json`` and, with pyarrow, ``results.parquet`` in ``out``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(
            {k: ("" if r[k] is None else repr(r[k]) if isinstance(r[k], float) else r[k]) for k in COLUMNS}
        )
    written = [out / "results.csv", out / "results.json"]
    atomic_write_bytes(written[0], buf.getvalue().encode("utf-8"))
    doc = {
        "format": "adsynth-benchmark-results",
        "format_version": 1,
        **meta,
        "columns": COLUMNS,
        "rows": rows,
    }
    atomic_write_bytes(written[1], (json.dumps(doc, indent=1, default=str) + "\n").encode("utf-8"))
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return written
    table = pa.Table.from_pylist(rows, schema=None)
    with atomic_path(out / "results.parquet") as tmp:
        pq.write_table(table, tmp)
    written.append(out / "results.parquet")
    return written


__all__ = ["CELL_FILE", "COLUMNS", "RESULT_COLUMNS", "collect", "read_results", "tidy_rows", "write_results"]

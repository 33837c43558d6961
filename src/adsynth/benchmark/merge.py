"""Collect finished cells into the results table, transfer matrices, rankings and ``summary.md``.

``adsynth benchmark`` (unsharded) calls :func:`write_outputs` at the end; after array-job shards,
``adsynth benchmark merge`` does the same from the cell folders, so a sharded run and an unsharded one
write the same tables.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adsynth.benchmark.layout import CONFIG_FILE
from adsynth.benchmark.matrix import (
    defect_types,
    matrix_markdown,
    ranking,
    ranking_markdown,
    transfer_matrices,
    write_matrices,
)
from adsynth.benchmark.results import collect, tidy_rows, write_results
from adsynth.errors import ConfigError, DataError
from adsynth.fsutil import atomic_write_bytes


@dataclass
class MergeResult:
    out: Path
    n_cells: int
    finished: int
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    p = Path(folder) / CONFIG_FILE
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{folder}: no {CONFIG_FILE} (not an adsynth benchmark folder)") from None
    except (OSError, ValueError) as e:
        raise DataError(f"{p}: unreadable ({e})") from None


def write_outputs(
    out: Path, cfg_or_manifest, partial: bool = True, sources: list[Path] | None = None
) -> MergeResult:
    """Write ``results.*``, ``matrix/``, ``ranking/`` and ``summary.md`` into ``out``.

    Args:
        out: destination folder.
        cfg_or_manifest: a :class:`~adsynth.benchmark.config.BenchConfig` or a ``benchmark.json`` dict.
        partial: write what finished even when cells are missing (else a DataError naming one).
        sources: folders holding ``cells/`` (default ``[out]``).
    """
    manifest = cfg_or_manifest if isinstance(cfg_or_manifest, dict) else cfg_or_manifest.to_dict()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    records, missing, failed = collect(sources or [out], manifest)
    if missing and not partial:
        why = f" (failed: {failed[missing[0]]})" if missing[0] in failed else ""
        raise DataError(
            f"{len(missing)} of {len(manifest['cells'])} cells are not finished, e.g. {missing[0]}{why}; "
            "run the missing shards (or --resume), or merge with --partial"
        )
    rows = tidy_rows(records, manifest["config_hash"])
    meta = {
        "config_hash": manifest["config_hash"],
        "config": manifest["config"],
        "n_cells": len(manifest["cells"]),
        "finished": [r["cell"] for r in records],
        "missing": missing,
        "failed": failed,
        "versions": records[0]["versions"] if records else {},
    }
    written = write_results(out, rows, meta)
    synthetic = {}
    for r in records:
        synthetic[r["dataset"]] = r["test_defects"] == "synthetic"
    written += write_matrices(out, rows, manifest["datasets"], manifest["matrix_metrics"], synthetic)
    summary = summary_markdown(manifest, records, rows, missing, failed, synthetic)
    atomic_write_bytes(out / "summary.md", summary.encode("utf-8"))
    written.append(out / "summary.md")
    if "fewshot" in manifest:  # the learning curve of a few real defects (benchmark/fewshot.py)
        from adsynth.benchmark.fewshot import write_fewshot_report

        written += write_fewshot_report(out, manifest, sources or [out])
    return MergeResult(out, len(manifest["cells"]), len(records), missing, failed, written)


def merge(sources: list[str | os.PathLike], out: str | os.PathLike, partial: bool = False) -> MergeResult:
    """Merge the cells of one benchmark's shard folders (same config hash) into ``out``."""
    srcs = [Path(s) for s in sources]
    if not srcs:
        raise ConfigError("expected at least one benchmark folder to merge")
    manifests = [read_manifest(s) for s in srcs]
    for s, m in zip(srcs[1:], manifests[1:], strict=True):
        if m["config_hash"] != manifests[0]["config_hash"]:
            raise ConfigError(
                f"{s} holds another benchmark (config hash {m['config_hash']}, "
                f"not {manifests[0]['config_hash']})"
            )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() not in [s.resolve() for s in srcs]:
        atomic_write_bytes(out / CONFIG_FILE, (json.dumps(manifests[0], indent=2) + "\n").encode())
    return write_outputs(out, manifests[0], partial=partial, sources=srcs)


def _timing_table(records: list[dict]) -> list[str]:
    by: dict[str, list[dict]] = {}
    for r in records:
        by.setdefault(r["model"], []).append(r)
    lines = [
        "| model | cells | epochs | train s (mean) | predict ms/img (mean) | eval s (mean) | total s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m, rs in by.items():
        n = len(rs)

        def t(k: str, rs: list[dict] = rs) -> float:
            return sum(x["timings"][k] for x in rs)

        total = t("train_s") + t("predict_s") + t("eval_s")
        epochs = sorted({x["epochs"] for x in rs})
        lines.append(
            f"| {m} | {n} | {','.join(map(str, epochs))} | {t('train_s') / n:.1f} | "
            f"{t('predict_ms_per_image') / n:.1f} | {t('eval_s') / n:.1f} | {total:.0f} |"
        )
    return lines


def summary_markdown(manifest, records, rows, missing, failed, synthetic) -> str:
    n = len(manifest["cells"])
    lines = [
        "# Benchmark summary",
        "",
        f"Config hash `{manifest['config_hash']}`; {len(records)} of {n} cells finished"
        + (f", {len(missing)} missing" if missing else "")
        + (f" ({len(failed)} failed)" if failed else "")
        + ".",
    ]
    if records:
        v = records[0]["versions"]
        lines += [
            "",
            "Versions: " + ", ".join(f"{k} {v[k]}" for k in v),
            "",
            "### Timing (wall seconds per cell)",
            "",
        ]
        lines += _timing_table(records)
    if failed:
        lines += ["", "Failed cells:", ""] + [f"- `{c}`: {e}" for c, e in failed.items()]
    if missing and len(missing) > len(failed):
        lines += ["", "Not finished: " + ", ".join(f"`{c}`" for c in missing if c not in failed)]
    for d in manifest["datasets"]:
        if not any(r["dataset"] == d for r in rows):
            continue
        for metric in manifest["matrix_metrics"]:
            mats = transfer_matrices(rows, d, metric)
            if mats:
                lines += ["", matrix_markdown(mats, d, metric, synthetic.get(d, False)).rstrip()]
        for metric in manifest["matrix_metrics"]:
            rk = ranking(rows, d, metric, by_recipe=False)
            lines += ["", ranking_markdown(rk, f"Ranking: {d}, {metric}, models").rstrip()]
        types = defect_types(rows, d)
        lines += ["", f"Defect types of `{d}`: " + ", ".join(types)]
    return "\n".join(lines) + "\n"


__all__ = ["MergeResult", "merge", "read_manifest", "write_outputs"]

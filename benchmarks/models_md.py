"""Markdown of the results written by ``zoo_on_dataset.py``: a summary table and one section per method.

    python benchmarks/models_md.py runs/mt > results.md

The summary row of each method is the ``all`` row of its report (the whole test split); the sections
repeat each method's per-defect-type table with the settings and timings of its run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: the order of docs/MODELS.md: families as in the surveys
ORDER = [
    "ae", "vae", "memae", "mnad", "ssl-ae",
    "riad", "scadn", "intra", "smai",
    "ganomaly", "fanogan", "ognet",
    "draem", "draem-sspcab", "cutpaste", "cutpaste-imagenet",
    "patchcore", "padim",
]  # fmt: skip


def all_row(table: str) -> dict[str, str]:
    """Cells of the ``all`` row of a report table, keyed by the column heads."""
    lines = [ln for ln in table.splitlines() if ln.startswith("|")]
    heads = [c.strip() for c in lines[0].strip("|").split("|")]
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if cells[0] == "all":
            return dict(zip(heads, cells, strict=True))
    raise ValueError("no `all` row in the table")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", help="the --out folder of zoo_on_dataset.py")
    args = ap.parse_args()
    runs = {p.stem: json.loads(p.read_text()) for p in sorted(Path(args.runs).glob("*.json"))}
    names = [n for n in ORDER if n in runs] + sorted(set(runs) - set(ORDER))
    first = all_row(runs[names[0]]["table"])
    metrics = [h for h in first if h not in ("defect type", "normal", "anomalous", "regions")]
    print("| method | " + " | ".join(metrics) + " | train s | infer ms/img |")
    print("|---|" + "---:|" * (len(metrics) + 2))
    for n in names:
        r = runs[n]
        row = all_row(r["table"])
        cells = " | ".join(row[m] for m in metrics)
        print(f"| `{n}` | {cells} | {r['train_s']:.0f} | {r['predict_ms_per_image']:.0f} |")
    for n in names:
        r = runs[n]
        hp = ", ".join(f"{k}={v}" for k, v in r["hparams"].items()) or "defaults"
        print(f"\n### `{n}`\n")
        schedule = f"{r['epochs']} epochs" if r["epochs"] else "one fitting pass"
        print(
            f"{schedule}, batch {r['batch_size']}, {r['image_size']} px, {hp}; "
            f"training {r['train_s']:.0f} s, prediction {r['predict_ms_per_image']:.0f} ms per test image "
            "(2 CPU cores, data loading included).\n"
        )
        print(r["table"].strip())


if __name__ == "__main__":
    main()

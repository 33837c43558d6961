"""Does fitting a recipe to a few real defects help on defects the fit never saw? (issue 27, item 3)

For each fold F of a few-shot benchmark's datasets (``adsynth benchmark`` with a ``fewshot`` entry writes
``<group>-k<K>-f<F>.h5`` into ``OUT/datasets/``):

1. ``adsynth recipes fit`` the base recipe to the K real defects per type of ``<group>-k<K>-f<F>.h5``;
2. train the model on the normal images of ``<group>-k0-f<F>.h5`` with the fitted recipe, the base recipe
   and each fixed recipe of ``--fixed`` (synthetic defects only, same seed);
3. evaluate each on that file's test split, which leaves out the fold's whole pool of defective photos,
   so none of the fit's real defects is scored.

It prints per defect type AUPRO mean ± fold sd per recipe, and fitted − base per fold. Finished steps are
kept (their outputs exist), so a run resumes.

    python benchmarks/recipe_fit_heldout.py --datasets fewshot_mt/datasets --group mt --k 5 \\
        --base draem --fixed erasure --out fit_heldout/
    # bottle-k{0,5}-f<F>.h5 made by `adsynth dataset split-defects --train-defects K --defect-fold F
    # --defect-pool 5` from a 128 px import of MVTec AD bottle, into the folder bottle128/
    python benchmarks/recipe_fit_heldout.py --datasets bottle128 --group bottle --k 5 --epochs 16 \\
        --base draem --fixed erasure poisson --out fit_heldout_bottle/
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def _aupro(report: Path) -> dict[str, float]:
    rows = json.loads((report / "metrics.json").read_text())["rows"]
    return {r["defect_type"]: r["metrics"]["aupro"] for r in rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", type=Path, required=True, help="folder with <group>-k<K>-f<F>.h5")
    p.add_argument("--group", default="mt")
    p.add_argument("--k", type=int, default=5, help="real defects per type the fit sees")
    p.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--base", default="draem")
    p.add_argument("--fixed", nargs="*", default=["erasure"], help="fixed recipes to compare with")
    p.add_argument("--model", default="destseg")
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--samples", type=int, default=32)
    p.add_argument("--seed", type=int, default=0, help="training seed (the fit uses the fold number)")
    p.add_argument("--epochs", type=int, help="training epochs (default: the model's)")
    p.add_argument("--space", type=Path, help="search space YAML for the fit (`adsynth recipes space BASE`)")
    p.add_argument("--label", default="fitted", help="name of the fitted recipe's row and files")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    table: dict[str, dict[int, dict[str, float]]] = {}
    timings: dict[str, list[float]] = {}
    for f in a.folds:
        fit_data = a.datasets / f"{a.group}-k{a.k}-f{f}.h5"
        train_data = a.datasets / f"{a.group}-k0-f{f}.h5"
        fitted = a.out / f"{a.label}-{a.base}-f{f}.yaml"
        if not fitted.exists():
            s = _run(
                [
                    "adsynth",
                    "recipes",
                    "fit",
                    "--data",
                    str(fit_data),
                    "--base",
                    a.base,
                    "--trials",
                    str(a.trials),
                    "--samples",
                    str(a.samples),
                    "--seed",
                    str(f),
                    "--out",
                    str(fitted),
                    *(["--space", str(a.space)] if a.space else []),
                    "--device",
                    "cpu",
                    "-q",
                ]
            )
            timings.setdefault("fit", []).append(s)
            print(f"fold {f}: fitted {a.base} in {s:.0f} s -> {fitted}", flush=True)
        for label, recipe in [(a.label, str(fitted)), (a.base, a.base)] + [(r, r) for r in a.fixed]:
            run = a.out / "runs" / f"{label}-f{f}"
            report = run / "report"
            if not (report / "metrics.json").exists():
                s = _run(
                    [
                        "adsynth",
                        "train",
                        "--model",
                        a.model,
                        "--data",
                        str(train_data),
                        "--out",
                        str(run),
                        "--recipe",
                        recipe,
                        "--seed",
                        str(a.seed),
                        "--device",
                        "cpu",
                        "--workers",
                        "0",
                        "--overwrite",
                        *(["--epochs", str(a.epochs)] if a.epochs else []),
                    ]
                )
                timings.setdefault("train", []).append(s)
                _run(
                    [
                        "adsynth",
                        "eval",
                        "--checkpoint",
                        str(run / "model.pt"),
                        "--data",
                        str(train_data),
                        "--out",
                        str(report),
                        "--device",
                        "cpu",
                        "--overwrite",
                    ]
                )
                print(f"fold {f}: {label} trained and scored in {s:.0f} s", flush=True)
            table.setdefault(label, {})[f] = _aupro(report)
    types = list(next(iter(next(iter(table.values())).values())))
    print(
        f"\nAUPRO@0.3 of {a.model} on {a.group}-k0-f<F> (the fold's pool of real defects left out of "
        f"the test set); fitted: {a.base} fitted to K = {a.k} real defects per type of the same fold; "
        f"mean ± sd over folds {a.folds}\n"
    )
    print("| recipe | " + " | ".join(types) + " |")
    print("|---|" + "---:|" * len(types))
    for label, per_fold in table.items():
        cells = []
        for t in types:
            v = [per_fold[f][t] for f in a.folds]
            cells.append(f"{statistics.mean(v):.3f} ± {statistics.stdev(v) if len(v) > 1 else 0:.3f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\n{a.label} − {a.base}, per fold:\n")
    print("| fold | " + " | ".join(types) + " |")
    print("|---|" + "---:|" * len(types))
    for f in a.folds:
        d = [table[a.label][f][t] - table[a.base][f][t] for t in types]
        print(f"| {f} | " + " | ".join(f"{x:+.3f}" for x in d) + " |")
    for k, v in timings.items():
        print(f"\n{k}: {len(v)} runs, {statistics.mean(v):.0f} s each on average (wall)")


if __name__ == "__main__":
    main()

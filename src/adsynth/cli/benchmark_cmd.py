"""``adsynth benchmark``: models × recipes × datasets × seeds in one resumable run; ``merge`` of shards."""

from __future__ import annotations

import click

from adsynth.cli.common import device_option, log_mode, log_options, say

_EPILOG = """\b
Examples:
  adsynth benchmark --config bench.yaml --out bench/
  adsynth benchmark --models draem,ssl-ae --recipes cutpaste-scar,draem,poisson --data mt.h5 --out bench/
  adsynth benchmark --config bench.yaml --out bench/ --resume      # finished cells are kept
  adsynth benchmark --config bench.yaml --out bench/ --shard 2/8   # one of 8 array-job shards
  adsynth benchmark merge bench/ --out bench/
"""


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


@click.group(invoke_without_command=True, epilog=_EPILOG)
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="Benchmark YAML (docs/BENCHMARK.md)."
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Output folder (cells/, results, matrix/, ranking/)."
)
@click.option("--data", help="Comma-separated .h5 datasets (replace the config's datasets).")
@click.option("--models", help="Comma-separated models (replace the config's models; no hyper-parameters).")
@click.option("--recipes", help="Comma-separated recipe names or YAML files (replace the config's).")
@click.option("--seeds", help="Comma-separated seeds (default 0).")
@click.option("--epochs", type=click.IntRange(1), help="Budget: epochs per cell.")
@click.option(
    "--minutes", type=click.FloatRange(0, min_open=True), help="Budget: minutes of training per cell."
)
@click.option("--image-size", type=click.IntRange(1), help="Model resolution.")
@device_option()
@click.option("--workers", type=click.IntRange(0), default=None, help="DataLoader workers per cell.")
@click.option("--shard", help="Run only shard i/n of the cells (1-based); then `adsynth benchmark merge`.")
@click.option("--resume", is_flag=True, help="Keep finished cells; redo interrupted ones.")
@click.option("--overwrite", is_flag=True, help="Redo this run's cells that exist.")
@click.option("--check", is_flag=True, help="Validate the configuration, list the cells and stop.")
@log_options
@click.pass_context
def benchmark(ctx, config_path, out, data, models, recipes, seeds, epochs, minutes, image_size, device,
              workers, shard, resume, overwrite, check, quiet, log_json):  # fmt: skip
    """Train, predict and evaluate every (dataset, model, recipe, seed) cell; write one results table,
    the recipe × defect-type transfer matrix and rankings."""
    if ctx.invoked_subcommand is not None:
        return
    mode = log_mode(quiet, log_json)
    if out is None:
        raise click.UsageError("expected --out (and --config, or --data with --models)")
    from adsynth.benchmark.config import build_config, load_config, shard_cells

    raw = load_config(config_path) if config_path else {}
    if data:
        raw["datasets"] = _csv(data)
    if models:
        raw["models"] = _csv(models)
    if recipes:
        raw["recipes"] = _csv(recipes)
    if seeds:
        try:
            raw["seeds"] = [int(s) for s in _csv(seeds)]
        except ValueError:
            raise click.BadParameter(
                f"expected comma-separated ints, got {seeds!r}", param_hint="--seeds"
            ) from None
    if epochs or minutes:
        raw["budget"] = {"epochs": epochs} if epochs else {"minutes": minutes}
    if image_size:
        raw["image_size"] = image_size
    if device != "auto" or "device" not in raw:
        raw["device"] = device
    if workers is not None:
        raw["workers"] = workers
    cfg = build_config(raw, out=out)
    cells = shard_cells(cfg.cells(), shard)
    if check:
        head = f"config {cfg.hash()}: {len(cfg.cells())} cells, {len(cells)} in this run"
        say(mode, [head] + [f"  {c.id}" for c in cells], config_hash=cfg.hash(), cells=[c.id for c in cells])
        return
    from adsynth.benchmark.runner import run_benchmark

    log = (lambda s: click.echo(s, err=True)) if mode == "auto" else None
    s = run_benchmark(cfg, out, resume=resume, overwrite=overwrite, shard=shard, log=log)
    lines = [
        f"{len(s.ran)} cells run, {len(s.kept)} kept, {len(s.failed)} failed in {s.seconds:.0f} s -> {out}"
    ]
    lines += [f"  FAILED {c}: {e}" for c, e in s.failed.items()]
    if shard:
        lines.append(f"shard {shard} done; when every shard is: adsynth benchmark merge {out} --out {out}")
    say(mode, lines, out=str(out), ran=s.ran, kept=s.kept, failed=s.failed, seconds=s.seconds)
    if s.failed:
        ctx.exit(1)


@benchmark.command("merge")
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Where the merged results go.")
@click.option("--partial", is_flag=True, help="Write the finished cells even when some are missing.")
@log_options
def merge_cmd(folders, out, partial, quiet, log_json):
    """Merge the cells of a benchmark's shards (one folder or several) into one set of results."""
    from adsynth.benchmark.merge import merge

    mode = log_mode(quiet, log_json)
    r = merge(list(folders), out, partial=partial)
    lines = [
        f"{r.finished} of {r.n_cells} cells merged -> {r.out}/results.csv, matrix/, ranking/, summary.md"
    ]
    if r.missing:
        lines.append(f"missing: {', '.join(r.missing[:5])}" + (" ..." if len(r.missing) > 5 else ""))
    say(
        mode,
        lines,
        out=str(r.out),
        finished=r.finished,
        n_cells=r.n_cells,
        missing=r.missing,
        failed=r.failed,
    )

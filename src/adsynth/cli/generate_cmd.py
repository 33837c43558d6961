"""``adsynth generate`` (``adsynth recipes`` lists the recipes: :mod:`adsynth.cli.recipes_cmd`)."""

from __future__ import annotations

import click

from adsynth.cli.common import (
    Progress,
    log_mode,
    log_options,
    overwrite_option,
    sample_option,
    say,
    seed_option,
    split_option,
    textures_option,
    workers_option,
)


@click.command("generate")
@click.option("--recipe", required=True, help="Recipe name (see `adsynth recipes`) or a YAML recipe file.")
@click.option(
    "--input",
    "input_",
    type=click.Path(),
    default=None,
    help="Dataset (.h5) or folder of normal photos. Default: bundled sample images.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Dataset file to write (.h5).")
@click.option(
    "--size", default=None, help="Output size N or HxW. Default: the input's size (128 for samples)."
)
@click.option(
    "--per-image",
    type=click.IntRange(1, 10000),
    default=1,
    show_default=True,
    help="Synthetic samples per source image.",
)
@seed_option("Random seed (same seed, same bytes).")
@workers_option("Worker processes.", default=1, low=1)
@split_option("Split written for the generated samples.", default="train")
@split_option(
    "Split of a dataset's normal images used as sources.",
    default="train",
    allow_all=True,
    name="--source-split",
)
@click.option(
    "--normal-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="Override the recipe's fraction of samples left normal.",
)
@textures_option()
@sample_option("Bundled sample used without --input.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Use at most this many source images.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run (same settings and seed).")
@overwrite_option
@log_options
def generate(
    recipe,
    input_,
    out,
    size,
    per_image,
    seed,
    workers,
    split,
    source_split,
    normal_fraction,
    textures,
    sample,
    limit,
    resume,
    overwrite,
    quiet,
    log_json,
):
    """Synthesise defects with a recipe and write a dataset with masks and provenance."""
    from adsynth.pipeline import checkpoint_reconstructor
    from adsynth.synth.engine import generate_dataset

    mode = log_mode(quiet, log_json)
    with Progress(None, f"generate {recipe}", mode=mode) as bar:
        try:
            s = generate_dataset(
                recipe,
                out,
                input=input_,
                size=size,
                per_image=per_image,
                seed=seed,
                workers=workers,
                split=split,
                source_split=source_split,
                normal_fraction=normal_fraction,
                textures=textures,
                sample=sample,
                limit=limit,
                resume=resume,
                overwrite=overwrite,
                progress=bar,
                checkpoint_loader=checkpoint_reconstructor,
            )
        except KeyboardInterrupt:
            raise click.ClickException(
                f"interrupted: committed samples kept in {out}.partial; run again with --resume"
            ) from None
        rate = bar.rate()
    msg = f"wrote {s.path}: {s.n_written} samples from {s.n_sources} source images"
    if s.resumed_from:
        msg += f" (resumed at {s.resumed_from})"
    if rate:
        msg += f", {rate:.0f} img/s"
    counts = sorted(s.counts.items())
    say(
        mode,
        [msg, *(f"  {sp}/{t} (label {lab}): {n}" for (sp, t, lab), n in counts)],
        command="generate",
        dataset=str(s.path),
        samples=s.n_written,
        sources=s.n_sources,
        resumed_from=s.resumed_from,
        counts=[{"split": sp, "defect_type": t, "label": lab, "n": n} for (sp, t, lab), n in counts],
    )

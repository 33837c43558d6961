"""``adsynth recipes``: the registered recipes; ``score`` and ``fit`` against a line's real defects."""

from __future__ import annotations

import click

from adsynth.cli.common import (
    batch_size_option,
    device_option,
    json_option,
    log_mode,
    log_options,
    overwrite_option,
    print_rows,
    say,
    seed_option,
    textures_option,
)

_EPILOG = """\b
Examples:
  adsynth recipes                                  # list the registered recipes
  adsynth recipes score --data line7.h5 --recipes draem,cutpaste-scar,poisson,memseg,mixed --out score/
  adsynth recipes fit --data line7.h5 --base draem --trials 50 --out fitted.yaml
  adsynth recipes space draem                      # what `fit` searches
"""


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _scorer_options(fn):
    """Options shared by ``score`` and ``fit``: how the regions are made and encoded."""
    fn = batch_size_option("Images per backbone pass.", default=32)(fn)
    fn = device_option()(fn)
    fn = textures_option()(fn)
    fn = click.option(
        "--real-split",
        type=click.Choice(["train", "test"]),
        default="train",
        show_default=True,
        help="Where the real defects come from: the few defective training photos, or (with a note) "
        "the test split's.",
    )(fn)
    fn = click.option(
        "--image-size",
        type=click.IntRange(16, 4096),
        default=None,
        help="Working side in px. Default: the dataset's, at most 256.",
    )(fn)
    fn = click.option(
        "--samples",
        type=click.IntRange(2, 100000),
        default=32,
        show_default=True,
        help="Synthetic defect regions per recipe (per trial for fit).",
    )(fn)
    return click.option(
        "--data",
        required=True,
        type=click.Path(dir_okay=False),
        help="Dataset (.h5) with normal training images and a few real defects with masks.",
    )(fn)


def _note_split(real_split: str, mode: str) -> None:
    if real_split == "test" and mode != "quiet":
        click.echo(
            "note: the real defects come from the test split (--real-split test): a recipe chosen or "
            "fitted on them is tuned to the photos a model is evaluated on",
            err=True,
        )


@click.group("recipes", invoke_without_command=True, epilog=_EPILOG)
@json_option
@click.pass_context
def recipes(ctx, as_json):
    """List the registered recipes: name, family, description, paper. `score` and `fit` compare recipes
    with a line's own real defects."""
    if ctx.invoked_subcommand is not None:
        return
    from adsynth.synth.recipes import list_recipes

    cells = lambda r: [r["name"], r["family"], r["description"], r["paper"]]  # noqa: E731
    print_rows(list_recipes(), as_json, ["recipe", "family", "description", "paper"], cells)


@recipes.command("score")
@_scorer_options
@click.option(
    "--recipes",
    "names",
    required=True,
    help="Comma-separated recipe names or YAML files (`mixed` and friends, or your own).",
)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Folder for score.md/csv/json/png."
)
@click.option("--defect-type", "defect_types", multiple=True, help="Only this real defect type (repeatable).")
@seed_option("Seed of the synthesis (same seed, same numbers).")
@overwrite_option
@log_options
def score_cmd(data, samples, image_size, real_split, textures, device, batch_size, names, out, defect_types,
              seed, overwrite, quiet, log_json):  # fmt: skip
    """Realism score of each recipe against each real defect type: a kernel distance (MMD) between
    synthetic and real defect regions in the bundled backbone's feature space and in simple region
    statistics (area, elongation, contrast, edge sharpness). Lower is more alike."""
    from adsynth.realism.report import check_out_dir, write_score_report
    from adsynth.realism.score import score_recipes

    mode = log_mode(quiet, log_json)
    check_out_dir(out, overwrite)
    _note_split(real_split, mode)
    log = (lambda k, n, r: click.echo(f"scored {r} ({k}/{n})", err=True)) if mode == "auto" else None
    table = score_recipes(
        data,
        _csv(names),
        progress=log,
        image_size=image_size,
        samples=samples,
        seed=seed,
        real_split=real_split,
        defect_types=list(defect_types) or None,
        textures=textures,
        batch_size=batch_size,
        device=device,
    )
    files = write_score_report(table, out, overwrite=overwrite)
    means = table.mean_scores()
    total = sum(table.seconds.values())
    lines = [
        f"wrote {', '.join(str(f) for f in files)}",
        f"{len(table.recipes)} recipes × {len(table.defect_types)} real defect types in {total:.1f} s "
        f"(setup {table.seconds['setup']:.1f} s)",
        *(f"  {name}: {v:.4f}" for name, v in sorted(means.items(), key=lambda kv: (kv[1] != kv[1], kv[1]))),
    ]
    say(mode, lines, command="recipes score", out=str(out), mean_scores=means, seconds=table.seconds)


@recipes.command("fit")
@_scorer_options
@click.option(
    "--base", required=True, help="Recipe to start from: a name (`adsynth recipes`) or a YAML file."
)
@click.option(
    "--trials", type=click.IntRange(1, 100000), default=50, show_default=True, help="Trials of the study."
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The fitted recipe (.yaml).")
@click.option("--defect-type", default=None, help="Fit to this real defect type only (default: all).")
@click.option(
    "--space",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML mapping `<generator>.<param>: [low, high]` or a list of choices: search only these, "
    "inside the declared ranges (`adsynth recipes space BASE`).",
)
@seed_option("Seed of the sampler and of the synthesis (same seed, same trials).")
@click.option("--resume", is_flag=True, help="Continue the study beside --out (<out>.study.db).")
@overwrite_option
@log_options
def fit_cmd(data, samples, image_size, real_split, textures, device, batch_size, base, trials, out,
            defect_type, space, seed, resume, overwrite, quiet, log_json):  # fmt: skip
    """Search the base recipe's parameters (sizes, shapes, opacity, colour, texture source) with
    Optuna's TPE sampler for the recipe whose defects score closest to the real ones; write it as a
    recipe YAML that `generate` and `train --recipe` take."""
    from adsynth.realism.fit import fit_recipe

    mode = log_mode(quiet, log_json)
    _note_split(real_split, mode)
    log = (lambda s: click.echo(s, err=True)) if mode == "auto" else None
    r = fit_recipe(
        data,
        base,
        out,
        trials=trials,
        seed=seed,
        resume=resume,
        overwrite=overwrite,
        defect_type=defect_type,
        space=space,
        log=log,
        image_size=image_size,
        samples=samples,
        real_split=real_split,
        textures=textures,
        batch_size=batch_size,
        device=device,
    )
    base_txt = "" if r.base_score is None else f" (base {r.base_score:.4f})"
    lines = [
        f"wrote {r.out}: best score {r.best_score:.4f}{base_txt}, trial {r.best_trial} of {r.n_trials} "
        f"({r.n_new} run now, {r.seconds:.1f} s); study {r.study}",
        *(f"  {k}: {v}" for k, v in r.values.items()),
        f"use it: adsynth generate --recipe {r.out} ... or adsynth train --recipe {r.out} ...",
        "note: closer defects are not a better training recipe: fitted recipes taught DeSTSeg less than "
        "their base on magnetic tile and as much on bottle (docs/RECIPES.md); compare it with its base "
        "and with the best-scored fixed recipe in a benchmark",
    ]
    say(mode, lines, command="recipes fit", out=str(r.out), study=str(r.study), best_score=r.best_score,
        base_score=r.base_score, best_trial=r.best_trial, trials=r.n_trials, values=r.values)  # fmt: skip


@recipes.command("space")
@click.argument("base")
@json_option
def space_cmd(base, as_json):
    """The parameters `fit` searches for recipe BASE (a name or a YAML file), with their ranges (the
    declared ones, widened to hold the base recipe's own values)."""
    from adsynth.realism.fit import raw_spec
    from adsynth.realism.space import include_base, recipe_space
    from adsynth.synth.recipes import load_recipe

    full = load_recipe(base).spec
    rows = [
        {"parameter": e.key, "kind": e.dim.kind, "range": e.dim.range_text(), "what": e.dim.help}
        for e in include_base(recipe_space(raw_spec(base)), full)
    ]
    cells = lambda r: [r["parameter"], r["kind"], r["range"], r["what"]]  # noqa: E731
    print_rows(rows, as_json, ["parameter", "kind", "range", "what"], cells)

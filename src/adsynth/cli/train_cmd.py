"""``adsynth train``: train (or fit) a zoo model on a dataset and write a run folder."""

from __future__ import annotations

import click

from adsynth.cli.common import (
    batch_size_option,
    device_option,
    log_mode,
    log_options,
    overwrite_option,
    say,
    seed_option,
    split_option,
    textures_option,
    workers_option,
)


def parse_sets(sets: tuple[str, ...]) -> dict:
    """``("key=value", ...)`` → hyper-parameters; values are read as YAML (``3``, ``0.5``, ``[1, 2]``)."""
    import yaml

    out = {}
    for item in sets:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        try:
            out[key] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise click.BadParameter(f"cannot read the value of {item!r}", param_hint="--set") from None
    return out


@click.command("train")
@click.option(
    "--model", default=None, help="Model name (see `adsynth models`). Taken from the run with --resume."
)
@click.option(
    "--data",
    type=click.Path(dir_okay=False),
    default=None,
    help="Training dataset (.h5); its normal images of --split are used.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Run folder (model.pt, last.pt, metrics.csv).",
)
@click.option("--epochs", type=click.IntRange(1), default=None, help="Epochs. Default: the model's.")
@batch_size_option("Batch size (per process). Default: the model's.", default=None)
@click.option(
    "--lr", type=click.FloatRange(0, min_open=True), default=None, help="Learning rate. Default: the model's."
)
@click.option(
    "--image-size", type=click.IntRange(8), default=None, help="Model resolution. Default: the model's."
)
@click.option(
    "--crop",
    type=click.IntRange(0),
    default=None,
    metavar="K",
    help="Tiled training: K random --image-size windows per photo and epoch at the photo's own "
    "resolution (the size recorded at import; no padding). `predict --input` then tiles by default.",
)
@device_option()
@workers_option("DataLoader workers.", default=2)
@seed_option("Random seed (default 0).", default=None)
@click.option(
    "--recipe",
    default=None,
    help="Synth recipe (name or YAML) for online anomalies. Default: the model's, if it needs one.",
)
@textures_option()
@split_option("Split to train on (default train).")
@click.option(
    "--real-defects",
    type=click.Choice(["none", "all", "labels-only"]),
    default=None,
    help="Use the split's defective photos (dataset import --train-defects): `all` with their masks, "
    "`labels-only` with image labels only (weak supervision). Default none. The model must accept it "
    "(`adsynth models`, column 'real defects').",
)
@click.option(
    "--no-synthetic",
    is_flag=True,
    help="With --real-defects: no synthetic anomalies at all (the real-only baseline).",
)
@click.option(
    "--real-fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Share of each epoch's samples that are real defective photos (default 0.25).",
)
@click.option("--backbone", default=None, help="Backbone name (timm) for models that use one.")
@click.option(
    "--weights", type=click.Path(dir_okay=False), default=None, help="Backbone weights file (state_dict)."
)
@click.option("--no-pretrained", is_flag=True, help="Random backbone initialisation (no ImageNet weights).")
@click.option(
    "--backbone-from",
    type=click.Path(dir_okay=False),
    default=None,
    help="Take the backbone from a trained zoo checkpoint (e.g. a CutPaste run).",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Model hyper-parameter (repeatable).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt.")
@overwrite_option
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the training step.")
@click.option("--no-amp", is_flag=True, help="Full precision on CUDA (mixed precision is the default there).")
@log_options
def train(
    model,
    data,
    out,
    epochs,
    batch_size,
    lr,
    image_size,
    crop,
    device,
    workers,
    seed,
    recipe,
    textures,
    split,
    real_defects,
    no_synthetic,
    real_fraction,
    backbone,
    weights,
    no_pretrained,
    backbone_from,
    sets,
    resume,
    overwrite,
    compile_,
    no_amp,
    quiet,
    log_json,
):
    """Train a model; writes <out>/model.pt every epoch.

    \b
    Examples:
      adsynth train --model draem --data train.h5 --out runs/draem --set base_width=64
      torchrun --nproc_per_node 4 -m adsynth train --model draem --data train.h5 --out runs/draem
      adsynth train --out runs/draem --resume
      adsynth train --model padim --data big.h5 --out runs/padim --image-size 128 --crop 4
      adsynth train --model supersimplenet --data line7.h5 --out runs/ssn --real-defects all
    """
    import os

    mode = log_mode(quiet, log_json)
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if not resume and (model is None or data is None):
        raise click.UsageError("--model and --data are required (except with --resume)")
    hparams = parse_sets(sets)
    for key, value in (("backbone", backbone), ("weights", weights), ("backbone_from", backbone_from)):
        if value is not None:
            hparams[key] = value
    if no_pretrained:
        hparams["pretrained"] = False

    # Refuse a typo or an existing run before importing torch (seconds; tens of seconds under load).
    from pathlib import Path

    from adsynth.zoo.precheck import check_model_name, check_run_folder

    if model is not None:
        check_model_name(model)
    check_run_folder(Path(out), resume, overwrite)

    from adsynth.zoo.trainer import TrainConfig
    from adsynth.zoo.trainer import train as run_training

    cfg = TrainConfig(
        model=model,
        data=data,
        out=out,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        image_size=image_size,
        crop=crop,
        device=device,
        workers=workers,
        seed=seed,
        recipe=recipe,
        textures=textures,
        hparams=hparams,
        split=split,
        real_defects=real_defects,
        synthetic=False if no_synthetic else None,
        real_fraction=real_fraction,
        resume=resume,
        overwrite=overwrite,
        compile=compile_,
        amp=not no_amp,
        progress=mode,
    )
    try:
        r = run_training(cfg)
    except KeyboardInterrupt:
        if (Path(out) / "last.pt").is_file():
            raise click.ClickException(
                f"interrupted: the last finished epoch is saved in {out}; continue with --resume"
            ) from None
        raise click.ClickException("interrupted before the first epoch finished; nothing was kept") from None
    if int(os.environ.get("RANK", "0")) != 0:
        return
    losses = ", ".join(f"{k} {v:.4g}" for k, v in r.metrics.items())
    fitted = f"fitted on {r.fitted_images} images at {r.image_size} px"
    rate = f", {r.images_per_s:.1f} img/s" if r.images_per_s else ""
    if r.epochs == 0 and r.fitted_images:  # a fit-only model: no epochs to report
        summary = f"{fitted} in {r.seconds:.1f} s{rate}"
    else:
        summary = f"trained for {r.epochs} epochs ({r.steps} steps) at {r.image_size} px"
        summary += f" in {r.seconds:.1f} s{rate}"
        summary += f", then {fitted}" if r.fitted_images else ""
    if r.real_defects:
        summary += f" with {r.real_defects} real defective photos"
    summary += f"; {losses}" if losses else ""
    lines = [summary]
    if image_size is None and not resume:
        lines.append(
            f"resolution: {r.image_size} px, the model's default capped at the dataset's image size "
            "(--image-size to change)"
        )
    say(
        mode,
        [*lines, f"wrote {r.checkpoint}"],
        command="train",
        checkpoint=str(r.checkpoint),
        epochs=r.epochs,
        steps=r.steps,
        seconds=round(r.seconds, 3),
        images_per_s=round(r.images_per_s, 3),
        fitted_images=r.fitted_images,
        image_size=r.image_size,
        real_defects=r.real_defects,
        metrics=r.metrics,
    )

"""``adsynth predict``: anomaly maps and scores of a trained model on a dataset (maps.h5)."""

from __future__ import annotations

import click

from adsynth.cli.common import (
    Progress,
    batch_size_option,
    device_option,
    log_mode,
    log_options,
    overwrite_option,
    say,
    split_option,
    workers_option,
)


@click.command("predict")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help="A run's model.pt.")
@click.option(
    "--data", type=click.Path(dir_okay=False), default=None, help="Dataset to predict (.h5) -> maps.h5."
)
@click.option(
    "--input",
    "input_",
    default=None,
    help="New photos: a folder, a glob pattern ('photos/*.png'), one image or an .h5 -> a results folder.",
)
@click.option(
    "--out", required=True, type=click.Path(), help="Maps file (.h5) with --data; a folder with --input."
)
@split_option("Split to predict (--data).", default="test", allow_all=True)
@device_option()
@batch_size_option("Images per forward pass.")
@workers_option("DataLoader workers (--data).")
@click.option(
    "--image-threshold", type=float, default=None, help="Score threshold (default: the checkpoint's)."
)
@click.option(
    "--pixel-threshold", type=float, default=None, help="Map threshold of regions (default: stored)."
)
@click.option(
    "--min-area", type=click.IntRange(1), default=1, show_default=True, help="Smallest region listed."
)
@click.option(
    "--fit",
    type=click.Choice(["squash", "pad", "tile"]),
    default=None,
    help="With --input: how photos meet the model's square input: resize, keep the aspect (pad), "
    "or full-resolution tiles. Default: tile for a model trained with --crop, pad for one trained on a "
    "--resize pad import, else squash.",
)
@click.option(
    "--overlap",
    type=click.IntRange(0),
    default=None,
    help="Tile overlap (px). Default: 32, or a quarter of the window for models under 128 px.",
)
@click.option("--no-overlays", is_flag=True, help="With --input: no overlay PNGs.")
@click.option("--save-maps", is_flag=True, help="With --input: also write maps/<name>.npy.")
@click.option("--resume", is_flag=True, help="With --input: keep the finished rows, score the rest.")
@click.option(
    "--skip-bad", is_flag=True, help="With --input: skip unreadable photos and list them instead of failing."
)
@overwrite_option
@log_options
def predict(
    checkpoint,
    data,
    input_,
    out,
    split,
    device,
    batch_size,
    workers,
    image_threshold,
    pixel_threshold,
    min_area,
    fit,
    overlap,
    no_overlays,
    save_maps,
    resume,
    skip_bad,
    overwrite,
    quiet,
    log_json,
):
    """Anomaly maps and scores: of a dataset (maps.h5 for `adsynth eval`), or of new photos.

    With --input, the results folder gets results.csv (score, decision, number of regions),
    regions.jsonl (regions above the pixel threshold: area, box, peak), overlays/ and with
    --save-maps the maps. Decisions use the thresholds that `adsynth calibrate` stored in the checkpoint.

    \b
    Examples:
      adsynth predict --checkpoint runs/draem/model.pt --data test.h5 --out maps.h5
      adsynth predict --checkpoint runs/padim/model.pt --input photos/ --out results/
    """
    mode = log_mode(quiet, log_json)
    if (data is None) == (input_ is None):
        raise click.UsageError("give exactly one of --data (a dataset -> maps.h5) and --input (new photos)")
    if input_ is not None:
        import warnings

        from adsynth.zoo.deploy.inference import infer_photos

        with Progress(None, "predict", mode=mode) as bar, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the warning is in the result: said once, below
            r = infer_photos(
                checkpoint,
                input_,
                out,
                batch_size=batch_size,
                device=device,
                image_threshold=image_threshold,
                pixel_threshold=pixel_threshold,
                min_area=min_area,
                fit=fit,
                overlap=overlap,
                overlays=not no_overlays,
                save_maps=save_maps,
                resume=resume,
                overwrite=overwrite,
                skip_bad=skip_bad,
                progress=bar,
            )
        text = f"wrote {r.out}: {r.n} images in {r.seconds:.1f} s ({r.images_per_s:.1f} img/s, --fit {r.fit})"
        if r.skipped:
            text += f", {r.skipped} already done"
        if r.warning is not None:
            click.echo(f"warning: {r.warning}", err=True)
        if r.unreadable:
            click.echo(f"warning: skipped {len(r.unreadable)} unreadable photo(s):", err=True)
            for name, why in r.unreadable:
                click.echo(f"  {name}: {why}", err=True)
        if r.image_threshold is None:  # "flagged 0" would read as "all good"
            verdict = (
                "no image threshold set: the decision column is empty (set one with "
                f"`adsynth calibrate --checkpoint {checkpoint} --data <val.h5>`, or pass --image-threshold)"
            )
        else:
            verdict = f"flagged {r.flagged} of {r.n} (image threshold {r.image_threshold:.6g})"
        say(
            mode,
            [text, verdict],
            command="predict",
            results=str(r.out),
            fit=r.fit,
            n=r.n,
            skipped=r.skipped,
            unreadable=[name for name, _ in r.unreadable],
            flagged=None if r.image_threshold is None else r.flagged,
            image_threshold=r.image_threshold,
            seconds=round(r.seconds, 3),
        )
        return
    if resume or save_maps or no_overlays or skip_bad or fit is not None:
        raise click.UsageError("--fit, --resume, --save-maps, --no-overlays and --skip-bad go with --input")
    from adsynth.zoo.deploy.predict import predict_dataset

    with Progress(None, "predict", mode=mode) as bar:
        r = predict_dataset(
            checkpoint,
            data,
            out,
            split=split,
            batch_size=batch_size,
            device=device,
            overwrite=overwrite,
            workers=workers,
            progress=bar,
        )
    if r.warning is not None:
        click.echo(f"warning: {r.warning}", err=True)
    say(
        mode,
        f"wrote {r.path}: {r.n} maps in {r.seconds:.1f} s ({r.images_per_s:.1f} img/s)",
        command="predict",
        maps=str(r.path),
        n=r.n,
        seconds=round(r.seconds, 3),
        images_per_s=round(r.images_per_s, 3),
    )


@click.command("calibrate")
@click.option(
    "--checkpoint", required=True, type=click.Path(dir_okay=False), help="A run's model.pt (updated)."
)
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Calibration dataset (.h5).")
@split_option("Split to calibrate on.", default="val", allow_all=True)
@click.option(
    "--fpr",
    type=click.FloatRange(0, 1, max_open=True),
    default=None,
    help="Flag at most this fraction of the normal images (and pixels). Default: F1-max on the defects.",
)
@device_option()
@batch_size_option("Images per forward pass.")
@log_options
def calibrate(checkpoint, data, split, fpr, device, batch_size, quiet, log_json):
    """Choose image and pixel thresholds and store them in the checkpoint.

    \b
    Examples:
      adsynth calibrate --checkpoint runs/padim/model.pt --data mt.h5 --split train --fpr 0.01
      adsynth calibrate --checkpoint runs/padim/model.pt --data val_synthetic.h5 --split val
    """
    from adsynth.pipeline import calibrate_checkpoint

    mode = log_mode(quiet, log_json)
    with Progress(None, "calibrate", mode=mode) as bar:
        t = calibrate_checkpoint(
            checkpoint, data, split=split, fpr=fpr, device=device, batch_size=batch_size, progress=bar
        )
    pixel = "none (no maps)" if t["pixel"] is None else f"{t['pixel']:.6g}"
    say(
        mode,
        f"thresholds ({t['rule']}, {t['n_normal']} normal / {t['n_anomalous']} defective images): "
        f"image {t['image']:.6g}, pixel {pixel}; stored in {checkpoint}",
        command="calibrate",
        checkpoint=str(checkpoint),
        thresholds=t,
    )


@click.command("export-model")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help="A run's model.pt.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "openvino"]),
    default=None,
    help="Default: from --out's suffix.",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="model.onnx, or model.xml (OpenVINO)."
)
@overwrite_option
def export_model_cmd(checkpoint, fmt, out, overwrite):
    """Export a model's prediction (map and score) to ONNX or OpenVINO, checked against PyTorch.

    The file carries the input size, channels, input convention and thresholds as metadata;
    `adsynth predict --checkpoint model.onnx --input photos/` runs it.

    \b
    Example:
      adsynth export-model --checkpoint runs/padim/model.pt --out padim.onnx
    """
    from adsynth.zoo.deploy.export import export_model

    r = export_model(checkpoint, out, fmt=fmt, overwrite=overwrite)
    click.echo(
        f"wrote {r['path']} ({r['format']}, batch {r['batch']}); max |difference| to PyTorch: "
        f"map {r['max_abs_error_map']:.3g}, score {r['max_abs_error_score']:.3g}"
    )

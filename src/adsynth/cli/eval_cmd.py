"""``adsynth eval``: metrics per defect type, tables and plots."""

from __future__ import annotations

import click

from adsynth.cli.common import overwrite_option


@click.command("eval")
@click.option(
    "--data", required=True, type=click.Path(), help="Test dataset (.h5) with masks and defect types."
)
@click.option(
    "--maps",
    type=click.Path(),
    default=None,
    help="Maps file (.h5 from `adsynth predict`) or a folder of .npy/.tiff maps named like the samples.",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    default=None,
    help="A zoo checkpoint: predict the maps first, then score them.",
)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Report folder.")
@click.option(
    "--split",
    type=click.Choice(["train", "val", "test", "all"]),
    default="test",
    show_default=True,
    help="Split of the dataset to score.",
)
@click.option(
    "--pro-limit",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.3,
    show_default=True,
    help="AUPRO integration limit (false-positive rate).",
)
@click.option(
    "--sort-by",
    type=click.Choice(["image_auroc", "image_f1_max", "pixel_auroc", "pixel_ap", "pixel_f1_max", "aupro"]),
    default=None,
    help="Order rows by this metric instead of by defect type.",
)
@click.option(
    "--device", default="auto", show_default=True, help="With --checkpoint: auto, cpu, cuda or cuda:i."
)
@click.option(
    "--batch-size", type=click.IntRange(1), default=16, show_default=True, help="With --checkpoint."
)
@overwrite_option
def eval_cmd(data, maps, checkpoint, out, split, pro_limit, sort_by, device, batch_size, overwrite):
    """Score anomaly maps per defect type: image/pixel AUROC, AUPRO, F1-max, AP, with plots."""
    from pathlib import Path

    from adsynth.errors import UsageError
    from adsynth.evaluate.report import format_markdown, write_report
    from adsynth.evaluate.runner import evaluate_files, image_getter

    if (maps is None) == (checkpoint is None):
        raise UsageError("give exactly one of --maps and --checkpoint")
    out_dir = Path(out)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise UsageError(f"{out_dir} is not empty (pass --overwrite to replace the report)")
    sp = None if split == "all" else split
    if checkpoint is not None:
        from adsynth.zoo.predict import predict_dataset

        out_dir.mkdir(parents=True, exist_ok=True)
        maps = out_dir / "maps.h5"
        predict_dataset(
            checkpoint, data, maps, split=sp, batch_size=batch_size, device=device, overwrite=True
        )
    report, ds = evaluate_files(data, maps, split=sp, limit=pro_limit, sort_by=sort_by)
    write_report(report, out_dir, overwrite=True, get_image=image_getter(ds))
    click.echo(format_markdown(report).split("\n", 2)[2].rstrip())
    click.echo(
        f"\nreport written to {out_dir}/ (metrics.md, metrics.csv, metrics.json, per_image.csv, "
        "roc.png, pro.png, overlays/)"
    )

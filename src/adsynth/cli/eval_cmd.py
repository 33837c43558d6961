"""``adsynth eval``: metrics per defect type, tables and plots."""

from __future__ import annotations

import click

from adsynth.cli.common import (
    DEVICE_HELP,
    batch_size_option,
    device_option,
    overwrite_option,
    split_option,
)


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
@split_option("Split of the dataset to score.", default="test", allow_all=True)
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
    "--allow-other-data",
    is_flag=True,
    help="Score a maps file although it was predicted on another data file than --data.",
)
@device_option(f"With --checkpoint: {DEVICE_HELP}")
@batch_size_option("With --checkpoint.")
@overwrite_option
def eval_cmd(
    data, maps, checkpoint, out, split, pro_limit, sort_by, allow_other_data, device, batch_size, overwrite
):
    """Score anomaly maps per defect type: image/pixel AUROC, AUPRO, F1-max, AP, with plots."""
    from pathlib import Path

    from adsynth.evaluate.report import format_markdown
    from adsynth.pipeline import evaluate_to_folder

    report, _ = evaluate_to_folder(
        data,
        out,
        maps=maps,
        checkpoint=checkpoint,
        split=split,
        pro_limit=pro_limit,
        sort_by=sort_by,
        device=device,
        batch_size=batch_size,
        overwrite=overwrite,
        allow_other_data=allow_other_data,
    )
    click.echo(format_markdown(report).split("\n", 2)[2].rstrip())
    click.echo(
        f"\nreport written to {Path(out)}/ (metrics.md, metrics.csv, metrics.json, per_image.csv, "
        "roc.png, pro.png, overlays/)"
    )

"""``adsynth dataset import|info|preview|export|merge|split-defects``."""

from __future__ import annotations

import click

from adsynth.cli.common import (
    Progress,
    choice_option,
    filters,
    overwrite_option,
    seed_option,
    split_filter_options,
    split_option,
    workers_option,
)


@click.group()
def dataset() -> None:
    """Create, inspect, preview and export adsynth HDF5 datasets."""


#: warnings of an import shown one per line; the rest are counted
SHOWN_WARNINGS = 10


def defect_selection_options(fn):
    """``--train-defects``, ``--defect-fold``, ``--defect-pool``: a few real defects for training."""
    fn = click.option(
        "--defect-pool",
        type=click.IntRange(0),
        default=None,
        help="Defective photos per type and fold taken out of the test set (default: --train-defects); "
        "those not trained on are left out, so one fold's test set is the same for every K <= pool.",
    )(fn)
    fn = click.option(
        "--defect-fold",
        type=click.IntRange(0),
        default=0,
        show_default=True,
        help="Fold of the selection (folds' training photos are disjoint).",
    )(fn)
    return fn


@dataset.command("import")
@click.option(
    "--input", "input_", required=True, type=click.Path(), help="Folder of images or an MVTec AD category."
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Dataset file to write (.h5).")
@click.option(
    "--size",
    default=None,
    help="Resize to N×N or HxW (e.g. 256 or 256x320). Default: keep (all images must match).",
)
@choice_option("--resize", ["stretch", "pad", "crop"], "stretch", "Resize policy.")
@choice_option("--color", ["auto", "gray", "rgb"], "auto", "Colour mode.")
@choice_option("--layout", ["auto", "folder", "mvtec"], "auto", "Input layout.")
@split_option("Split of a plain folder's images.", default="train")
@click.option(
    "--val-fraction",
    type=float,
    default=0.0,
    show_default=True,
    help="Fraction of normal training images moved to val.",
)
@seed_option("Seed of the validation selection.")
@workers_option("Decoding threads.", default=2, low=1, high=64)
@click.option("--skip-bad", is_flag=True, help="Skip unreadable images and list them instead of failing.")
@click.option(
    "--train-defects",
    type=click.IntRange(0),
    default=None,
    help="MVTec layout: move K defective test photos of each defect type to the training split "
    "(seeded by --seed).",
)
@defect_selection_options
@overwrite_option
def import_cmd(
    input_, out, size, resize, color, layout, split, val_fraction, seed, workers, skip_bad,
    train_defects, defect_fold, defect_pool, overwrite,
):  # fmt: skip
    """Import a folder of photos or an MVTec AD category into a dataset."""
    from adsynth.data.importers import import_dataset

    if train_defects is None and (defect_fold or defect_pool is not None):
        raise click.UsageError("--defect-fold and --defect-pool need --train-defects")

    with Progress(None, "import") as bar:
        s = import_dataset(
            input_,
            out,
            size=size,
            resize=resize,
            color=color,
            layout=layout,
            split=split,
            val_fraction=val_fraction,
            seed=seed,
            skip_bad=skip_bad,
            overwrite=overwrite,
            workers=workers,
            progress=bar,
            train_defects=train_defects,
            defect_fold=defect_fold,
            defect_pool=defect_pool,
        )
    click.echo(
        f"wrote {s.path}: {s.n_written} images ({s.settings['importer']} layout, "
        f"{s.settings['size'][0]}×{s.settings['size'][1]} {s.settings['color_mode']})"
    )
    click.echo(_counts_table(s.counts))
    if "train_defects" in s.settings:
        click.echo(_selection_line(s.settings["train_defects"]))
    if s.warnings:
        click.echo(f"warning: {len(s.warnings)} image(s) imported with a loss:", err=True)
        for name, why in s.warnings[:SHOWN_WARNINGS]:
            click.echo(f"  {name}: {why}", err=True)
        if len(s.warnings) > SHOWN_WARNINGS:
            click.echo(f"  ... and {len(s.warnings) - SHOWN_WARNINGS} more", err=True)
    if s.skipped:
        click.echo(f"skipped {len(s.skipped)} file(s):", err=True)
        for name, why in s.skipped:
            click.echo(f"  {name}: {why}", err=True)


def _selection_line(rec: dict) -> str:
    """One line describing a ``train_defects`` selection record."""
    train = rec.get("train", {})
    left = sum(len(v) for v in rec.get("left_out", {}).values())
    per_type = ", ".join(f"{t} {len(v)}" for t, v in sorted(train.items())) or "none"
    return (
        f"defective training photos (K={rec.get('k')}, fold {rec.get('fold')}, pool {rec.get('pool')}, "
        f"seed {rec.get('seed')}): {per_type}; {left} left out of train and test"
    )


def _counts_table(counts) -> str:
    rows = sorted(counts.items())
    lines = ["| split | defect type | label | images |", "|---|---|---|---|"]
    lines += [f"| {s} | {t} | {lab} | {n} |" for (s, t, lab), n in rows]
    lines.append(f"| **total** | | | {sum(counts.values())} |")
    return "\n".join(lines)


@dataset.command("info")
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def info_cmd(path, as_json):
    """Show format, settings and counts per split and defect type."""
    import json
    import os

    from adsynth.data import DatasetReader
    from adsynth.data.fewshot import RECORD_KEY, train_defect_counts

    ds = DatasetReader(path)
    a = ds.attrs
    selection = ds.settings.get(RECORD_KEY) if isinstance(ds.settings, dict) else None
    info = {
        "path": str(path),
        "format_version": int(a.get("format_version", 0)),
        "adsynth_version": a.get("adsynth_version"),
        "created": a.get("created"),
        "images": len(ds),
        "size": list(ds.shape),
        "color_mode": a.get("color_mode"),
        "seed": ds.seed,
        "settings": ds.settings,
        "file_mb": round(os.path.getsize(path) / 2**20, 2),
        "counts": [
            {"split": s, "defect_type": t, "label": lab, "images": n}
            for (s, t, lab), n in sorted(ds.counts().items())
        ],
        "train_defects": train_defect_counts(ds),
        "train_defects_selection": selection,
    }
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(
        f"{path}: adsynth dataset v{info['format_version']} (written by adsynth {info['adsynth_version']}, "
        f"{info['created']})"
    )
    h, w, c = ds.shape
    click.echo(
        f"{len(ds)} images of {h}×{w}, {info['color_mode']} ({c} channel{'s' if c > 1 else ''}), "
        f"{info['file_mb']} MB, seed {ds.seed}"
    )
    kind = (
        ds.settings.get("importer") or ds.settings.get("recipe", {}).get("name")
        if isinstance(ds.settings, dict)
        else None
    )
    if kind:
        click.echo(f"produced by: {kind}")
    click.echo(_counts_table(ds.counts()))
    if info["train_defects"]:
        per_type = ", ".join(f"{t} {n}" for t, n in info["train_defects"].items())
        click.echo(f"defective training samples: {per_type}")
    if selection:
        click.echo(_selection_line(selection) + f", from {selection.get('source')}")


@dataset.command("preview")
@click.argument("path", type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG contact sheet to write.")
@click.option(
    "-n", "--num", "n", type=click.IntRange(1, 1000), default=24, show_default=True, help="Samples to show."
)
@click.option("--cols", type=click.IntRange(1, 50), default=6, show_default=True, help="Columns.")
@click.option(
    "--tile", type=click.IntRange(32, 1024), default=160, show_default=True, help="Tile size in pixels."
)
@seed_option("Seed of the sample selection.")
@split_filter_options
@overwrite_option
def preview_cmd(path, out, n, cols, tile, seed, split, label, defect_type, overwrite):
    """Write a contact sheet PNG with masks overlaid (every defect type represented)."""
    from adsynth.data.preview import contact_sheet

    p = contact_sheet(
        path,
        out,
        n=n,
        cols=cols,
        tile=tile,
        seed=seed,
        overwrite=overwrite,
        **filters(split, label, defect_type),
    )
    click.echo(f"wrote {p}")


@dataset.command("export")
@click.argument("path", type=click.Path())
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="Folder to write (MVTec AD layout)."
)
@split_filter_options
@overwrite_option
def export_cmd(path, out, split, label, defect_type, overwrite):
    """Export to the MVTec AD folder layout (images and ground-truth masks as PNG)."""
    from adsynth.data.exporters import export_mvtec

    counts = export_mvtec(path, out, overwrite=overwrite, **filters(split, label, defect_type))
    click.echo(f"wrote {out}: {sum(counts.values())} images")
    for (s, t), k in sorted(counts.items()):
        click.echo(f"  {s}/{t}: {k}")


@dataset.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Merged dataset file.")
@overwrite_option
def merge_cmd(inputs, out, overwrite):
    """Concatenate datasets (shards) of the same image size and colour mode."""
    from adsynth.data import DatasetReader, merge_datasets

    p = merge_datasets(list(inputs), out, overwrite=overwrite)
    click.echo(f"wrote {p}: {len(DatasetReader(p))} images from {len(inputs)} files")


@dataset.command("split-defects")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Dataset to copy (.h5).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Dataset file to write (.h5).")
@click.option(
    "--train-defects",
    required=True,
    type=click.IntRange(0),
    help="K: defective test photos of each defect type moved to the training split.",
)
@defect_selection_options
@seed_option("Seed of the selection.")
@overwrite_option
def split_defects_cmd(data, out, train_defects, defect_fold, defect_pool, seed, overwrite):
    """Copy a dataset with K defective test photos per type moved to training (a few real defects)."""
    from adsynth.data.fewshot import split_defects

    s = split_defects(
        data, out, k=train_defects, fold=defect_fold, pool=defect_pool, seed=seed, overwrite=overwrite
    )
    click.echo(f"wrote {s.path}: {s.n_written} images")
    click.echo(_counts_table(s.counts))
    click.echo(_selection_line(s.record))

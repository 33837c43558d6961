"""``adsynth demo``: the README's main job on bundled sample images."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--out", default="adsynth-demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for every file the demo writes.")
@click.option("--sample", type=click.Choice(["brick", "grass", "gravel", "coffee", "tissue"]), default="brick",
              show_default=True, help="Bundled sample standing in for a factory's photos.")
@click.option("--size", type=click.IntRange(32, 512), default=128, show_default=True, help="Image size.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--overwrite", is_flag=True, help="Replace the files of an earlier demo.")
def demo(out, sample, size, seed, overwrite):
    """Import bundled photos, synthesise a test set of defects, and preview it."""
    from adsynth.data import DatasetReader
    from adsynth.data.preview import contact_sheet
    from adsynth.data.samples import write_sample_dataset
    from adsynth.synth.engine import generate_dataset

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    normals = root / "normal.h5"
    click.echo(f"[1/3] bundled sample '{sample}' → {normals}")
    write_sample_dataset(normals, sample, n=64, size=size, seed=seed, overwrite=overwrite)
    test = root / "test.h5"
    click.echo(f"[2/3] synthetic test set (recipe 'mixed') → {test}")
    generate_dataset("mixed", test, input=normals, split="test", normal_fraction=0.3, per_image=1,
                     seed=seed + 1, overwrite=overwrite)
    preview = root / "preview.png"
    click.echo(f"[3/3] contact sheet → {preview}")
    contact_sheet(test, preview, n=24, overwrite=overwrite)
    counts = DatasetReader(test).counts()
    click.echo("test set: " + ", ".join(f"{t} {n}" for (_, t, _), n in sorted(counts.items())))

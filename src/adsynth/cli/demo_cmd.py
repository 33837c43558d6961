"""``adsynth demo``: the README's main job on bundled sample images, offline, on CPU or GPU."""

from __future__ import annotations

import click

from adsynth.cli.common import device_option, sample_option, seed_option


@click.command("demo")
@click.option(
    "--out",
    default="adsynth-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for every file the demo writes.",
)
@sample_option("Bundled sample standing in for a factory's photos.")
@click.option(
    "--model", default="patchcore", show_default=True, help="Zoo model to train (see `adsynth models`)."
)
@click.option(
    "--epochs", type=click.IntRange(1), default=None, help="Training epochs (default: the demo's per model)."
)
@click.option("--size", type=click.IntRange(32, 512), default=128, show_default=True, help="Image size.")
@device_option()
@seed_option("Random seed.")
@click.option("--overwrite", is_flag=True, help="Replace the files of an earlier demo.")
def demo(out, sample, model, epochs, size, device, seed, overwrite):
    """Generate a synthetic test set from bundled photos, train a model, evaluate it per defect type.

    \b
    1. 64 normal training images and 64 held-out images cropped from a bundled photo;
    2. a test set of synthetic defects (recipe `mixed`, 30 % left normal);
    3. training on the normal images (feature methods: the bundled ImageNet EfficientNet-Lite0);
    4. evaluation per defect type: image/pixel AUROC, AUPRO, F1-max, AP, plots and overlays.
    """
    from adsynth.evaluate.report import format_markdown
    from adsynth.pipeline import run_demo

    r = run_demo(
        out,
        sample=sample,
        model=model,
        epochs=epochs,
        size=size,
        device=device,
        seed=seed,
        overwrite=overwrite,
        log=click.echo,
    )
    click.echo("")
    click.echo(format_markdown(r.report).split("\n", 4)[4].rstrip())
    files = "train.h5, heldout.h5, test.h5, test_preview.png, run/model.pt, maps.h5, report/"
    click.echo(f"\nfiles: {r.root}/ ({files})")

"""``adsynth demo``: the README's main job on bundled sample images, offline, on CPU or GPU."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--out",
    default="adsynth-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for every file the demo writes.",
)
@click.option(
    "--sample",
    type=click.Choice(["brick", "grass", "gravel", "coffee", "tissue"]),
    default="brick",
    show_default=True,
    help="Bundled sample standing in for a factory's photos.",
)
@click.option(
    "--model", default="patchcore", show_default=True, help="Zoo model to train (see `adsynth models`)."
)
@click.option(
    "--epochs", type=click.IntRange(1), default=None, help="Training epochs (default: the demo's per model)."
)
@click.option("--size", type=click.IntRange(32, 512), default=128, show_default=True, help="Image size.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:i.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--overwrite", is_flag=True, help="Replace the files of an earlier demo.")
def demo(out, sample, model, epochs, size, device, seed, overwrite):
    """Generate a synthetic test set from bundled photos, train a model, evaluate it per defect type.

    \b
    1. 64 normal training images and 64 held-out images cropped from a bundled photo;
    2. a test set of synthetic defects (recipe `mixed`, 30 % left normal);
    3. training on the normal images (feature methods: the bundled ImageNet EfficientNet-Lite0);
    4. evaluation per defect type: image/pixel AUROC, AUPRO, F1-max, AP, plots and overlays.
    """
    from adsynth.data.preview import contact_sheet
    from adsynth.data.samples import write_sample_dataset
    from adsynth.data.writer import check_output
    from adsynth.evaluate.report import format_markdown, write_report
    from adsynth.evaluate.runner import evaluate_files, image_getter
    from adsynth.synth.engine import generate_dataset
    from adsynth.zoo.predict import predict_dataset
    from adsynth.zoo.trainer import TrainConfig, train

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    train_h5, held_h5, test_h5 = root / "train.h5", root / "heldout.h5", root / "test.h5"
    for p in (train_h5, held_h5, test_h5):
        check_output(p, overwrite)
    click.echo(f"[1/5] bundled sample '{sample}': normal images → {train_h5}")
    write_sample_dataset(train_h5, sample, n=64, size=size, seed=seed, overwrite=overwrite)
    write_sample_dataset(held_h5, sample, n=64, size=size, seed=seed + 1000, overwrite=overwrite)
    click.echo(f"[2/5] synthetic test set (recipe 'mixed', 30 % normal) → {test_h5}")
    generate_dataset(
        "mixed",
        test_h5,
        input=held_h5,
        split="test",
        normal_fraction=0.3,
        per_image=1,
        seed=seed + 1,
        overwrite=overwrite,
    )
    contact_sheet(test_h5, root / "test_preview.png", n=24, overwrite=True)
    click.echo(f"[3/5] training {model} on {train_h5} (device {device})")
    res = train(
        TrainConfig(
            model=model,
            data=train_h5,
            out=root / "run",
            epochs=epochs,
            image_size=size,
            device=device,
            seed=seed,
            overwrite=True,
            workers=2,
        )
    )
    click.echo(f"[4/5] predicting the test set → {root / 'maps.h5'}")
    predict_dataset(res.checkpoint, test_h5, root / "maps.h5", split="test", device=device, overwrite=True)
    click.echo(f"[5/5] evaluating per defect type → {root / 'report'}/")
    report, ds = evaluate_files(test_h5, root / "maps.h5", split="test")
    write_report(report, root / "report", overwrite=True, get_image=image_getter(ds))
    click.echo("")
    click.echo(format_markdown(report).split("\n", 4)[4].rstrip())
    click.echo(f"\nfiles: {root}/ (train.h5, test.h5, test_preview.png, run/model.pt, maps.h5, report/)")

"""``adsynth predict``: anomaly maps and scores of a trained model on a dataset (maps.h5)."""

from __future__ import annotations

import click

from adsynth.cli.common import Progress, overwrite_option


@click.command("predict")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False), help="A run's model.pt.")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Dataset to predict (.h5).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Maps file to write (.h5).")
@click.option(
    "--split",
    type=click.Choice(["train", "val", "test", "all"]),
    default="test",
    show_default=True,
    help="Split to predict.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:i.")
@click.option(
    "--batch-size", type=click.IntRange(1), default=16, show_default=True, help="Images per forward pass."
)
@click.option(
    "--workers", type=click.IntRange(0, 256), default=0, show_default=True, help="DataLoader workers."
)
@overwrite_option
def predict(checkpoint, data, out, split, device, batch_size, workers, overwrite):
    """Write anomaly maps and image scores for `adsynth evaluate`.

    \b
    Example:
      adsynth predict --checkpoint runs/draem/model.pt --data test.h5 --out maps.h5
    """
    from adsynth.zoo.predict import predict_dataset

    with Progress(None, "predict") as bar:
        r = predict_dataset(
            checkpoint,
            data,
            out,
            split=None if split == "all" else split,
            batch_size=batch_size,
            device=device,
            overwrite=overwrite,
            workers=workers,
            progress=bar,
        )
    click.echo(f"wrote {r.path}: {r.n} maps in {r.seconds:.1f} s ({r.images_per_s:.1f} img/s)")

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
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Dataset to predict (.h5).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Maps file to write (.h5).")
@split_option("Split to predict.", default="test", allow_all=True)
@device_option()
@batch_size_option("Images per forward pass.")
@workers_option("DataLoader workers.")
@overwrite_option
@log_options
def predict(checkpoint, data, out, split, device, batch_size, workers, overwrite, quiet, log_json):
    """Write anomaly maps and image scores for `adsynth evaluate`.

    \b
    Example:
      adsynth predict --checkpoint runs/draem/model.pt --data test.h5 --out maps.h5
    """
    from adsynth.zoo.predict import predict_dataset

    mode = log_mode(quiet, log_json)
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
    say(
        mode,
        f"wrote {r.path}: {r.n} maps in {r.seconds:.1f} s ({r.images_per_s:.1f} img/s)",
        command="predict",
        maps=str(r.path),
        n=r.n,
        seconds=round(r.seconds, 3),
        images_per_s=round(r.images_per_s, 3),
    )

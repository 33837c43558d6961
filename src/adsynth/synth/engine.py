"""The generation engine: stream normal images through a recipe into a new dataset.

Each sample's randomness comes from ``numpy.random.default_rng([seed, sample_index])``, so the output
is byte-identical for the same seed whatever the number of worker processes. Memory stays bounded: the
source is read lazily, results stream through an ordered ``imap`` into the writer's small buffer.

Example:
    >>> from adsynth.synth.engine import generate_dataset
    >>> generate_dataset("cutpaste-scar", "train.h5", input=None, per_image=2)  # doctest: +SKIP
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adsynth.data import format as F
from adsynth.data.reader import DatasetReader
from adsynth.data.writer import DatasetWriter, check_output, partial_path
from adsynth.errors import ConfigError, DataError, WriteError
from adsynth.fsutil import scratch_dir


@dataclass
class GenerateSummary:
    path: Path
    n_written: int
    n_sources: int
    resumed_from: int
    counts: dict


class _SourcePool:
    """The normal source images, read lazily from a dataset and resized to the output size."""

    def __init__(self, reader: DatasetReader, size: tuple[int, int] | None) -> None:
        self.reader = reader
        self.size = size
        self.names = reader.names

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> np.ndarray:
        img = self.reader.read_image(i)
        if self.size is not None and img.shape[:2] != self.size:
            from adsynth.data.images import fit

            img, _ = fit(img, None, self.size, "stretch")
        return img

    def get(self, i: int) -> np.ndarray:
        return self[i]

    def name(self, i: int) -> str:
        return self.names[i]

    def draw_other(self, rng: np.random.Generator, exclude: int | None = None) -> int:
        from adsynth.synth.base import ImagePool

        return ImagePool.draw_other(self, rng, exclude)  # type: ignore[arg-type]


_STATE: dict[str, Any] = {}


def _init_worker(cfg: dict[str, Any]) -> None:
    import cv2

    from adsynth.synth.recipes import load_recipe

    # Patches are small: OpenCV's thread pool costs more than it gives, and workers are the parallelism.
    cv2.setNumThreads(1)

    reader = DatasetReader(cfg["source"], indices=cfg["indices"])
    _STATE["pool"] = _SourcePool(reader, cfg["size"])
    _STATE["recipe"] = load_recipe(
        cfg["recipe"],
        textures=cfg["textures"],
        normal_fraction=cfg["normal_fraction"],
        checkpoint_loader=cfg["checkpoint_loader"],
    )
    _STATE["cfg"] = cfg


def _make_sample(s: int) -> tuple:
    from adsynth.synth.base import SynthContext

    cfg, pool, recipe = _STATE["cfg"], _STATE["pool"], _STATE["recipe"]
    i, k = divmod(s, cfg["per_image"])
    img = pool[i]
    rng = np.random.default_rng([cfg["seed"], s])
    ctx = SynthContext(pool=pool, index=i, name=pool.name(i))  # type: ignore[arg-type]
    res = recipe.apply(img, rng, ctx)
    src = pool.name(i)
    prov = {
        **res.params,
        "source": src,
        "source_row": int(pool.reader.row(i)),
        "sample_index": s,
        "seed": cfg["seed"],
        "other_sources": list(res.sources),
    }
    name = f"{Path(src).with_suffix('').as_posix()}__{cfg['tag']}{k:02d}"
    return res.image, res.mask, int(res.label), recipe.defect_type(res), name, src, prov


def _prepare_source(
    input: str | os.PathLike | None, tmpdir: str, size: tuple[int, int] | None, sample: str, seed: int
) -> tuple[Path, str]:
    """Return an adsynth dataset holding the source images (importing folders / bundled samples)."""
    if input is None:
        from adsynth.data.samples import write_sample_dataset

        p = Path(tmpdir) / "samples.h5"
        write_sample_dataset(p, sample, n=32, size=(size or (128, 128))[0], seed=seed)
        return p, f"bundled:{sample}"
    src = Path(input)
    if not src.exists():
        raise DataError(f"{src}: no such file or folder")
    if src.is_dir():
        from adsynth.data.importers import import_dataset

        p = Path(tmpdir) / "source.h5"
        import_dataset(src, p, size=size, workers=2)
        return p, str(src)
    return src, str(src)


def generate_dataset(
    recipe: str,
    out: str | os.PathLike,
    *,
    input: str | os.PathLike | None = None,
    size: int | str | tuple[int, int] | None = None,
    per_image: int = 1,
    seed: int = 0,
    workers: int = 1,
    split: str = "train",
    source_split: str | None = "train",
    normal_fraction: float | None = None,
    textures: str | None = None,
    sample: str = "brick",
    limit: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[int], Any] | None = None,
    checkpoint_loader: Callable[[str], Any] | None = None,
) -> GenerateSummary:
    """Write a dataset of synthetic defects made by ``recipe`` from normal images.

    Args:
        recipe: preset name or YAML path (see :mod:`adsynth.synth.recipes`).
        out: the ``.h5`` to write (atomically; ``--resume`` continues ``<out>.partial``).
        input: adsynth dataset, folder of photos, or None for the bundled sample images.
        size: output size N or (H, W); default: the source's size (128 for bundled samples).
        per_image: synthetic samples per source image.
        seed: the seed; sample ``s`` uses ``default_rng([seed, s])``.
        workers: worker processes (the output does not depend on it).
        split: split written for every sample.
        source_split: split of the normal source images used from a dataset (None: every split;
            falls back to every split when the dataset has no normal image in it).
        normal_fraction: override the recipe's fraction of samples left normal.
        textures: folder of texture images for texture-based generators.
        sample: bundled sample used when ``input`` is None.
        limit: use at most this many source images.
        resume: continue an interrupted run with the same settings.
        overwrite: replace an existing output.
        progress: called with the number of samples written so far.
        checkpoint_loader: for recipes whose generators name a ``checkpoint`` (see
            :func:`~adsynth.synth.recipes.load_recipe`); a module-level function, as each worker
            process receives it: ``adsynth.pipeline.checkpoint_reconstructor``.
    """
    from adsynth.data.images import parse_size
    from adsynth.synth.recipes import load_recipe

    if split not in F.SPLITS:
        raise ConfigError(f"unknown split {split!r} (valid: {', '.join(F.SPLITS)})")
    if per_image < 1:
        raise ConfigError(f"expected `per_image` to be a positive int, got {per_image}")
    if workers < 1:
        raise ConfigError(f"expected `workers` to be a positive int, got {workers}")
    if not (resume and partial_path(out).exists()):
        check_output(out, overwrite)
    rec = load_recipe(  # validate early
        recipe, textures=textures, normal_fraction=normal_fraction, checkpoint_loader=checkpoint_loader
    )
    target = parse_size(size)
    with scratch_dir(Path(out).parent, "adsynth-gen-", output=out) as tmpdir:
        try:
            src_path, src_desc = _prepare_source(input, tmpdir, target, sample, seed)
        except WriteError as e:  # the scratch copy of the source: name the output the user asked for
            raise e.for_path(out) from None
        probe = DatasetReader(src_path, label="normal", split=source_split)
        if len(probe) == 0 and source_split is not None:
            probe = DatasetReader(src_path, label="normal")
        if len(probe) == 0:
            raise DataError(f"{src_desc}: no normal images to synthesise defects from")
        indices = probe.indices[:limit] if limit else probe.indices
        if rec.needs_pool and len(indices) < 2:
            raise DataError(f"recipe {rec.name!r} needs at least two normal source images")
        h, w, c = probe.shape
        hw = target or (h, w)
        settings = {
            "recipe": rec.to_dict(),
            "input": src_desc,
            "per_image": per_image,
            "size": list(hw),
            "split": split,
            "source_split": source_split,
            "textures": textures,
            "n_sources": len(indices),
        }
        cfg = {
            "source": str(src_path),
            "indices": [int(i) for i in indices],
            "size": tuple(hw),
            "recipe": str(recipe),
            "textures": textures,
            "normal_fraction": normal_fraction,
            "checkpoint_loader": checkpoint_loader,
            "per_image": per_image,
            "seed": seed,
            "tag": "s",
        }
        total = len(indices) * per_image
        resuming = resume and partial_path(out).exists()
        writer = DatasetWriter(
            out,
            height=hw[0],
            width=hw[1],
            channels=c,
            seed=seed,
            settings=settings,
            overwrite=overwrite,
            resume=resume,
        )
        start = writer.committed
        with writer:
            todo = range(start, total)
            if workers == 1:
                _init_worker(cfg)
                results = map(_make_sample, todo)
                pool = None
            else:
                ctx = mp.get_context("fork" if os.name == "posix" else "spawn")
                pool = ctx.Pool(workers, initializer=_init_worker, initargs=(cfg,))
                results = pool.imap(_make_sample, todo, chunksize=8)
            try:
                for j, (img, mask, label, dtype, name, src, prov) in enumerate(results, start=start + 1):
                    writer.append(
                        img,
                        mask,
                        label=label,
                        defect_type=dtype,
                        split=split,
                        name=name,
                        source=src,
                        provenance=prov,
                    )
                    if progress is not None:
                        progress(j)
            except WriteError:
                raise  # the writer leaves nothing
            except Exception:
                # A failure (a refused recipe checkpoint, a generator error) leaves no partial file of this
                # run; an interrupt (BaseException) keeps it for --resume, and so does a run resumed here.
                writer.abort(keep=resuming)
                raise
            finally:
                if pool is not None:
                    pool.terminate()
                _STATE.clear()
            n = writer.n
    return GenerateSummary(Path(out), n, len(indices), start, dict(DatasetReader(out).counts()))

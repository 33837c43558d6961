"""A few real defects in the training split: a seeded, leak-free selection of defective test photos.

A defective *training* sample is an ordinary row of the format with split ``train``, label 1, its mask
and its defect type (docs/FORMAT.md). :func:`select_train_defects` picks them: per defect type a fixed
seeded permutation of its photos is cut into folds of ``pool`` photos; fold ``f``'s first ``k`` go to
training and the rest of its pool is left out of the file, so one fold's test set is the same for every
``k <= pool`` (the points of a learning curve are comparable). :func:`split_defects` applies the
selection to an existing dataset; ``adsynth dataset import --train-defects K`` applies it at import.

Example:
    >>> train, left_out = select_train_defects({"crack": ["c0", "c1", "c2", "c3"]}, k=1, pool=2)
    >>> len(train["crack"]), len(left_out["crack"])
    (1, 1)
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adsynth.data import format as F
from adsynth.errors import ConfigError

#: the key of the selection record in a dataset's settings
RECORD_KEY = "train_defects"
#: provenance key of a row moved from the test split to the training split
PROVENANCE_KEY = "train_defect"


def _check_int(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"expected `{name}` to be an int >= {minimum}, got {value!r}")
    return int(value)


def check_selection(k: Any, fold: Any = 0, pool: Any = None, seed: Any = 0) -> tuple[int, int, int, int]:
    """``(k, fold, pool, seed)`` checked, with ``pool`` defaulting to ``k``."""
    k = _check_int(k, "k")
    fold = _check_int(fold, "fold")
    pool = k if pool is None else _check_int(pool, "pool")
    if pool < k:
        raise ConfigError(f"expected `pool` >= `k` ({k}), got {pool}")
    return k, fold, pool, _check_int(seed, "seed")


def type_permutation(names: list[str], defect_type: str, seed: int) -> list[str]:
    """The photos of one defect type, sorted by name, in the type's seeded order (the folds' source)."""
    ordered = sorted(names)
    rng = np.random.default_rng([seed, zlib.crc32(defect_type.encode("utf-8"))])
    return [ordered[i] for i in rng.permutation(len(ordered))]


def select_train_defects(
    names_by_type: dict[str, list[str]], k: int, fold: int = 0, pool: int | None = None, seed: int = 0
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Pick ``k`` defective photos per type for training; leave the rest of the fold's pool out.

    Per defect type (sorted), its photos sorted by name are permuted by
    ``np.random.default_rng([seed, crc32(type)])``; fold ``f``'s pool is positions
    ``[f * pool, (f + 1) * pool)`` of that order. The pool's first ``k`` go to training, its other
    ``pool - k`` are left out (neither trained on nor tested), every other photo stays in the test set.
    Folds' training sets are disjoint, and a fold's test set is the same for every ``k <= pool``.

    Args:
        names_by_type: defect type -> names of its defective photos (unique names).
        k: photos per type moved to training (0: none, the pool is still left out).
        fold: which pool of the permutation.
        pool: photos per type and fold taken out of the test set (default ``k``).
        seed: seed of the permutations.

    Returns:
        ``(train, left_out)``: defect type -> names (in permutation order), for every type.

    Raises:
        ConfigError: an invalid argument, or a type with fewer than ``(fold + 1) * pool`` photos.

    Example:
        >>> names = {"hole": [f"h{i}" for i in range(6)], "crack": [f"c{i}" for i in range(6)]}
        >>> a, _ = select_train_defects(names, k=2, fold=0, pool=3)
        >>> b, _ = select_train_defects(names, k=2, fold=1, pool=3)
        >>> set(a["hole"]).isdisjoint(b["hole"])
        True
    """
    k, fold, pool, seed = check_selection(k, fold, pool, seed)
    train: dict[str, list[str]] = {}
    left_out: dict[str, list[str]] = {}
    for t in sorted(names_by_type):
        names = list(names_by_type[t])
        if len(set(names)) != len(names):
            raise ConfigError(f"defect type {t!r}: photo names are not unique")
        need = (fold + 1) * pool
        if len(names) < need:
            raise ConfigError(
                f"defect type {t!r} has {len(names)} defective photos; fold {fold} with a pool of {pool} "
                f"needs {need}"
            )
        chosen = type_permutation(names, t, seed)[fold * pool : (fold + 1) * pool]
        train[t], left_out[t] = chosen[:k], chosen[k:]
    return train, left_out


def selection_record(
    train: dict[str, list[str]], left_out: dict[str, list[str]], k: int, fold: int, pool: int, seed: int,
    source: str,
) -> dict[str, Any]:  # fmt: skip
    """The ``train_defects`` entry of a dataset's settings (docs/FORMAT.md)."""
    return {
        "k": k, "fold": fold, "pool": pool, "seed": seed, "train": train, "left_out": left_out,
        "source": source,
    }  # fmt: skip


@dataclass
class SplitSummary:
    """What :func:`split_defects` wrote."""

    path: Path
    n_written: int
    record: dict[str, Any]  #: the ``train_defects`` settings record
    counts: Counter = field(default_factory=Counter)

    @property
    def train(self) -> dict[str, list[str]]:
        return self.record["train"]

    @property
    def left_out(self) -> dict[str, list[str]]:
        return self.record["left_out"]


def split_defects(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    k: int,
    fold: int = 0,
    pool: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    block: int = 256,
) -> SplitSummary:
    """Copy the dataset ``src`` to ``out`` with ``k`` defective test photos per type moved to training.

    The selection is :func:`select_train_defects` over the defective ``test`` rows of ``src``, grouped by
    defect type. Chosen rows get split ``train`` and ``"train_defect": true`` in their provenance; the
    rest of the fold's pool is dropped; every other row is copied as is (image, mask, source,
    provenance). The settings of ``src`` are kept, with the selection recorded under
    ``train_defects``. Written atomically by :class:`~adsynth.data.writer.DatasetWriter`.

    Raises:
        ConfigError: an invalid selection, too few photos of a type, or a ``src`` that already has one.
        OutputExistsError: ``out`` exists and ``overwrite`` is false.

    Example:
        >>> s = split_defects("mt.h5", "mt-k2-f0.h5", k=2, pool=10)  # doctest: +SKIP
        >>> {t: len(v) for t, v in s.train.items()}  # doctest: +SKIP
        {'blowhole': 2, 'break': 2, 'crack': 2, 'fray': 2, 'uneven': 2}
    """
    from adsynth.data.reader import DatasetReader
    from adsynth.data.writer import DatasetWriter, check_output

    k, fold, pool, seed = check_selection(k, fold, pool, seed)
    check_output(out, overwrite)
    reader = DatasetReader(src)
    settings = reader.settings if isinstance(reader.settings, dict) else {"settings": reader.settings}
    if RECORD_KEY in settings:
        raise ConfigError(
            f"{src}: already has defective training samples chosen by `train_defects`; "
            f"split the file it was made from ({settings[RECORD_KEY].get('source')})"
        )
    names, splits, labels, types = reader.names, reader.splits, reader.labels, reader.defect_types
    by_type: dict[str, list[str]] = {}
    for name, sp, lab, t in zip(names, splits, labels.tolist(), types, strict=True):
        if sp == "test" and lab > 0:
            by_type.setdefault(t, []).append(name)
    if k > 0 and not by_type:
        raise ConfigError(f"{src}: no defective test photos to move to the training split")
    train, left_out = select_train_defects(by_type, k, fold, pool, seed)
    moved = {n for v in train.values() for n in v}
    dropped = {n for v in left_out.values() for n in v}
    record = selection_record(train, left_out, k, fold, pool, seed, str(Path(src).resolve()))
    h, w, c = reader.shape
    codec = reader.attrs.get("codec", F.COMPRESSION)
    with DatasetWriter(
        out, height=h, width=w, channels=c, seed=reader.seed, settings={**settings, RECORD_KEY: record},
        overwrite=overwrite, compression=None if codec == "none" else codec,
    ) as wr:  # fmt: skip
        with F.h5_open(reader.path, "r") as f:
            skipped = F.load_json_attr(f, "skipped")
            n = f[F.IMAGES].shape[0]
            for s in range(0, n, block):
                e = min(n, s + block)
                imgs, masks = f[F.IMAGES][s:e], f[F.MASKS][s:e]
                sources, provs = f[F.SOURCES][s:e], f[F.PROVENANCE][s:e]
                for i in range(e - s):
                    name = names[s + i]
                    if name in dropped:
                        continue
                    prov = json.loads(F.decode_str(provs[i]))
                    if name in moved:
                        prov[PROVENANCE_KEY] = True
                    wr.append(
                        imgs[i], masks[i], label=int(labels[s + i]), defect_type=types[s + i],
                        split="train" if name in moved else splits[s + i], name=name,
                        source=F.decode_str(sources[i]), provenance=prov,
                    )  # fmt: skip
        if skipped is not None:
            wr.set_attr("skipped", skipped)
        n_written = wr.n
    return SplitSummary(Path(out), n_written, record, DatasetReader(out).counts())


def train_defect_counts(reader: Any) -> dict[str, int]:
    """Defective training samples per defect type of a :class:`~adsynth.data.reader.DatasetReader`."""
    counts: Counter = Counter()
    for sp, lab, t in zip(reader.splits, reader.labels.tolist(), reader.defect_types, strict=True):
        if sp == "train" and lab > 0:
            counts[t] += 1
    return dict(sorted(counts.items()))

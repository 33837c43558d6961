"""The realism score: how far a recipe's synthetic defect regions are from a dataset's real ones.

For one recipe and one real defect type the score is the sum of two kernel distances (squared MMD,
unbiased estimate) between the set of synthetic regions and the set of real regions:

* **appearance**: on mask-pooled, standardised features of the bundled backbone
  (:class:`~adsynth.realism.features.RegionEncoder`), with a mixture of three RBF kernels whose squared
  bandwidths are 1/4, 1 and 4 times the median squared distance within a *reference set* that does not
  depend on the recipe: the real regions plus the same masks laid on normal images;
* **geometry**: on the region statistics (:mod:`~adsynth.realism.stats`) in fixed units (log2 area, log2
  elongation, contrast and edge sharpness in 32-grey-level units), with RBF bandwidths 0.5, 1 and 2.

Each part lies in about [0, 2]; 0 means "indistinguishable at this sample size" (the unbiased estimate
can dip slightly below 0). Kernel distances with fixed, recipe-independent bandwidths behave well with a
handful of real regions (5-10), where a Fréchet distance would need covariance estimates in 152
dimensions. The **baseline** (the real masks on normal images, i.e. no defect at all) is scored the
same way: a recipe above it makes regions less like the real ones than no defect does.

Synthetic regions are made as the trainer makes them: the recipe is applied to the dataset's normal
training images (resized to the working size) with ``numpy.random.default_rng([seed, s])`` for draw
``s`` on image ``s % n_normal``; draws left normal (a recipe's ``normal_fraction``) are skipped until
``samples`` regions are collected. Every recipe sees the same images and seeds.

Example:
    >>> scorer = RealismScorer("line7.h5", image_size=128, samples=32, seed=0)  # doctest: +SKIP
    >>> [(r.defect_type, round(r.score, 3)) for r in scorer.score(load_recipe("draem"))]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adsynth.data import format as F
from adsynth.data.images import fit
from adsynth.data.reader import DatasetReader
from adsynth.errors import ConfigError, DataError
from adsynth.realism.stats import STATS, region_stats, stat_vector
from adsynth.synth.base import ImagePool, SynthContext
from adsynth.synth.recipes import Recipe, load_recipe

#: squared-bandwidth multiples of the appearance kernel (times the reference median)
APPEARANCE_SCALES = (0.25, 1.0, 4.0)
#: bandwidths (in stat units) of the geometry kernel
GEOMETRY_SIGMAS = (0.5, 1.0, 2.0)
#: the name of the no-defect baseline in reports
BASELINE = "(no defect)"
#: the largest working size used when ``image_size`` is not given
MAX_DEFAULT_SIZE = 256


def _sq_dists(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.maximum(d, 0.0)


def _kernel(d2: np.ndarray, sigmas2: tuple[float, ...]) -> np.ndarray:
    return sum(np.exp(-d2 / (2.0 * s2)) for s2 in sigmas2) / len(sigmas2)


def mmd2(x: np.ndarray, y: np.ndarray, sigmas2: tuple[float, ...]) -> float:
    """Unbiased squared MMD between samples ``x`` (n×d) and ``y`` (m×d) with a mixture of RBF kernels
    ``exp(-|a-b|² / 2σ²)``, σ² in ``sigmas2``. A set of one sample uses ``k(a, a) = 1`` for its own term.

    Example:
        >>> import numpy as np
        >>> a = np.random.default_rng(0).normal(size=(50, 2))
        >>> abs(mmd2(a[:25], a[25:], (1.0,))) < 0.1, mmd2(a, a + 5, (1.0,)) > 1.5
        (True, True)
    """
    if len(x) == 0 or len(y) == 0:
        return float("nan")

    def within(z: np.ndarray) -> float:
        n = len(z)
        if n < 2:
            return 1.0
        k = _kernel(_sq_dists(z, z), sigmas2)
        return float((k.sum() - np.trace(k)) / (n * (n - 1)))

    return within(x) + within(y) - 2.0 * float(_kernel(_sq_dists(x, y), sigmas2).mean())


def median_sq_distance(z: np.ndarray) -> float:
    """The median squared distance between the distinct pairs of rows of ``z`` (1.0 when undefined)."""
    if len(z) < 2:
        return 1.0
    d = _sq_dists(z, z)[np.triu_indices(len(z), 1)]
    med = float(np.median(d))
    return med if med > 1e-12 else 1.0


@dataclass
class RegionSet:
    """Regions as features (N×D), stat vectors (N×4) and raw statistics."""

    features: np.ndarray
    vectors: np.ndarray
    stats: list[dict[str, float]]

    def __len__(self) -> int:
        return len(self.stats)

    def mean_stats(self) -> dict[str, float]:
        if not self.stats:
            return {s: float("nan") for s in STATS}
        return {s: float(np.mean([r[s] for r in self.stats])) for s in STATS}


@dataclass
class RecipeScore:
    """The realism of one recipe against one real defect type (lower is more alike)."""

    recipe: str
    defect_type: str
    score: float
    appearance: float
    geometry: float
    n_real: int
    n_synthetic: int
    real_stats: dict[str, float]
    synthetic_stats: dict[str, float]
    note: str = ""

    @property
    def stat_diffs(self) -> dict[str, float]:
        """Synthetic minus real mean of each statistic."""
        return {s: self.synthetic_stats[s] - self.real_stats[s] for s in STATS}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stat_diffs": self.stat_diffs}


@dataclass
class _RealType:
    regions: RegionSet
    baseline: RegionSet
    sigmas2: tuple[float, ...]
    skipped: int = 0


def _at_size(img: np.ndarray, mask: np.ndarray | None, size: tuple[int, int]):
    return fit(img, mask, size, "stretch")


class RealismScorer:
    """Scores recipes against the real defects of a dataset; the real regions' features are computed
    once, so scoring many recipes (or many fit trials) costs one synthesis and one backbone pass each.

    Args:
        data: an adsynth dataset with normal training images and a few real defects with masks.
        image_size: working side in pixels (default: the dataset's shorter side, at most 256).
        samples: synthetic regions per recipe.
        seed: the seed of the synthesis (draw ``s`` uses ``default_rng([seed, s])``).
        real_split: where the real defects come from: ``train`` (the few defective training photos)
            or ``test`` (then the score looks at the photos a model will be evaluated on).
        defect_types: only these real defect types (default: every one with a mask).
        textures: texture folder for texture-based recipes.
        backbone, batch_size, device: of the :class:`~adsynth.realism.features.RegionEncoder`.

    Raises:
        DataError: no normal training image, or no real defect with a mask in ``real_split``.
    """

    def __init__(
        self,
        data: str | os.PathLike,
        *,
        image_size: int | None = None,
        samples: int = 32,
        seed: int = 0,
        real_split: str = "train",
        defect_types: list[str] | None = None,
        textures: str | None = None,
        backbone: str | None = None,
        batch_size: int = 32,
        device: str = "cpu",
    ) -> None:
        from adsynth.realism.features import RegionEncoder

        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
            raise ConfigError(f"expected `samples` to be an int >= 2, got {samples!r}")
        if real_split not in F.SPLITS:
            raise ConfigError(f"unknown split {real_split!r} (valid: {', '.join(F.SPLITS)})")
        t0 = time.perf_counter()
        self.data = Path(data)
        self.samples, self.seed, self.real_split, self.textures = samples, int(seed), real_split, textures
        normal = DatasetReader(self.data, split="train", label="normal")
        if len(normal) == 0:
            raise DataError(f"{self.data}: no normal training images to synthesise defects on")
        h, w = normal.shape[:2]
        side = min(h, w, MAX_DEFAULT_SIZE) if image_size is None else image_size
        if isinstance(side, bool) or not isinstance(side, int) or not 16 <= side <= 4096:
            raise ConfigError(f"expected `image_size` to be an int in [16, 4096], got {image_size!r}")
        self.size = (side, side)
        self.normal_names = list(normal.names)
        self.normals = [_at_size(normal.read_image(i), None, self.size)[0] for i in range(len(normal))]
        self.pool = ImagePool(self.normals, self.normal_names)
        kw = {"backbone": backbone} if backbone else {}
        self.encoder = RegionEncoder(batch_size=batch_size, device=device, **kw)
        self.encoder.fit_normal(self.normals)
        self.types = self._load_real(defect_types)
        self.setup_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------------ the real regions
    def _load_real(self, defect_types: list[str] | None) -> dict[str, _RealType]:
        reader = DatasetReader(self.data, split=self.real_split, label="anomalous")
        where = f"the {self.real_split} split of {self.data}"
        hint = (
            " (add a few with `adsynth dataset split-defects --train-defects K`, or pass --real-split test)"
            if self.real_split == "train"
            else ""
        )
        if len(reader) == 0:
            raise DataError(f"no real defects in {where}{hint}")
        present = sorted(set(reader.defect_types))
        if defect_types:
            unknown = [t for t in defect_types if t not in present]
            if unknown:
                raise ConfigError(
                    f"no real defect of type {unknown[0]!r} in {where} (valid: {', '.join(present)})"
                )
        wanted = set(defect_types or present)
        by_type: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        skipped: dict[str, int] = {}
        for i, t in enumerate(reader.defect_types):
            if t not in wanted:
                continue
            img, mask = _at_size(reader.read_image(i), reader.read_mask(i), self.size)
            if not mask.any():
                skipped[t] = skipped.get(t, 0) + 1
                continue
            imgs, masks = by_type.setdefault(t, ([], []))
            imgs.append(img)
            masks.append(mask)
        if not by_type:
            raise DataError(f"no real defect with a mask in {where}{hint}")
        out = {}
        for t in sorted(by_type):
            imgs, masks = by_type[t]
            regions = self._regions(imgs, masks)
            # The same masks on normal images: what the places of the defects look like without them.
            bimgs = [self.normals[j % len(self.normals)] for j in range(len(masks))]
            base = self._regions(bimgs, masks)
            ref = np.concatenate([regions.features, base.features])
            med = median_sq_distance(ref)
            out[t] = _RealType(regions, base, tuple(s * med for s in APPEARANCE_SCALES), skipped.get(t, 0))
        return out

    def _regions(self, images: list[np.ndarray], masks: list[np.ndarray]) -> RegionSet:
        stats = [region_stats(im, m) for im, m in zip(images, masks, strict=True)]
        vectors = np.array([stat_vector(s) for s in stats]).reshape(len(stats), len(STATS))
        return RegionSet(self.encoder.encode(images, masks), vectors, stats)

    @property
    def defect_types(self) -> list[str]:
        return list(self.types)

    def real_counts(self) -> dict[str, int]:
        return {t: len(r.regions) for t, r in self.types.items()}

    # ------------------------------------------------------------------ synthesis and scores
    def synthesize(self, recipe: Recipe) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Up to ``samples`` synthetic (image, mask) pairs with a non-empty mask, made as the trainer
        makes them (see the module docstring)."""
        if recipe.needs_pool and len(self.normals) < 2:
            raise DataError(f"recipe {recipe.name!r} needs at least two normal training images")
        keep = max(1e-3, 1.0 - recipe.normal_fraction)
        max_draws = int(math.ceil(self.samples / keep)) * 2 + 16
        images, masks = [], []
        n = len(self.normals)
        for s in range(max_draws):
            if len(images) == self.samples:
                break
            i = s % n
            ctx = SynthContext(pool=self.pool, index=i, name=self.normal_names[i])
            res = recipe.apply(self.normals[i], np.random.default_rng([self.seed, s]), ctx)
            mask = (np.asarray(res.mask) > 0).astype(np.uint8)
            if res.label and mask.any():
                img = res.image if res.image.ndim == 3 else res.image[:, :, None]
                images.append(img)
                masks.append(mask)
        return images, masks

    def synthetic_regions(self, recipe: Recipe) -> RegionSet:
        images, masks = self.synthesize(recipe)
        return self._regions(images, masks)

    def compare(self, name: str, synth: RegionSet, expected: int | None = None) -> list[RecipeScore]:
        """One :class:`RecipeScore` per real defect type for already encoded regions (``expected``:
        how many regions were asked for, noted when fewer came)."""
        rows = []
        for t, real in self.types.items():
            note = ""
            if len(synth) == 0:
                app = geo = float("nan")
                note = "no synthetic region with a pixel mask (image-level recipe?)"
            else:
                app = mmd2(synth.features, real.regions.features, real.sigmas2)
                geo = mmd2(synth.vectors, real.regions.vectors, tuple(s * s for s in GEOMETRY_SIGMAS))
                if expected is not None and len(synth) < expected:
                    note = f"only {len(synth)} of {expected} draws made a region"
            if real.skipped:
                note = "; ".join(x for x in (note, f"{real.skipped} real masks vanished at this size") if x)
            rows.append(
                RecipeScore(
                    recipe=name,
                    defect_type=t,
                    score=app + geo,
                    appearance=app,
                    geometry=geo,
                    n_real=len(real.regions),
                    n_synthetic=len(synth),
                    real_stats=real.regions.mean_stats(),
                    synthetic_stats=synth.mean_stats(),
                    note=note,
                )
            )
        return rows

    def score(self, recipe: Recipe, name: str | None = None) -> list[RecipeScore]:
        """The realism of ``recipe`` against each real defect type."""
        return self.compare(name or recipe.name, self.synthetic_regions(recipe), self.samples)

    def baseline(self) -> list[RecipeScore]:
        """The no-defect baseline: per type, the real masks laid on normal images."""
        rows = []
        for t, real in self.types.items():
            rows += [r for r in self.compare(BASELINE, real.baseline) if r.defect_type == t]
        return rows


@dataclass
class ScoreTable:
    """What ``adsynth recipes score`` writes: one row per (recipe, defect type) and the baseline."""

    rows: list[RecipeScore]
    baseline: list[RecipeScore]
    meta: dict[str, Any] = field(default_factory=dict)
    #: wall seconds of the setup (``"setup"``) and of each recipe; not written, so the files are the same
    #: bytes for the same seed
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def recipes(self) -> list[str]:
        return list(dict.fromkeys(r.recipe for r in self.rows))

    @property
    def defect_types(self) -> list[str]:
        return list(dict.fromkeys(r.defect_type for r in self.baseline))

    def mean_scores(self) -> dict[str, float]:
        """Each recipe's score averaged over the defect types (the fit's objective)."""
        return {
            name: float(np.mean([r.score for r in self.rows if r.recipe == name])) for name in self.recipes
        }


def score_recipes(
    data: str | os.PathLike,
    recipes: list[str],
    *,
    progress: Any = None,
    **scorer_options: Any,
) -> ScoreTable:
    """Score each recipe (a preset name or a YAML file) against every real defect type of ``data``.

    Args:
        data: the dataset (see :class:`RealismScorer`).
        recipes: preset names or YAML paths, validated before anything is computed.
        progress: called with ``(done, total, recipe)`` after each recipe.
        **scorer_options: of :class:`RealismScorer` (``image_size``, ``samples``, ``seed``, ...).

    Raises:
        ConfigError: an unknown recipe or an invalid parameter (before any work).
        DataError: no real defects (see :class:`RealismScorer`).
    """
    if not recipes:
        raise ConfigError("expected at least one recipe")
    textures = scorer_options.get("textures")
    loaded = [load_recipe(r, textures=textures) for r in recipes]
    names = [r.name for r in loaded]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"recipe {dup[0]!r} given twice")
    scorer = RealismScorer(data, **scorer_options)
    rows: list[RecipeScore] = []
    seconds: dict[str, float] = {}
    for k, rec in enumerate(loaded):
        t0 = time.perf_counter()
        try:
            rows += scorer.score(rec)
        except DataError as e:
            raise DataError(f"recipe {rec.name!r}: {e}") from None
        seconds[rec.name] = round(time.perf_counter() - t0, 3)
        if progress is not None:
            progress(k + 1, len(loaded), rec.name)
    meta = {
        "data": str(data),
        "real_split": scorer.real_split,
        "real_counts": scorer.real_counts(),
        "n_normal": len(scorer.normals),
        "image_size": scorer.size[0],
        "samples": scorer.samples,
        "seed": scorer.seed,
        "backbone": scorer.encoder.backbone,
        "weights": scorer.encoder.weights_source,
        "recipes": {r.name: r.to_dict() for r in loaded},
    }
    return ScoreTable(rows, scorer.baseline(), meta, {"setup": round(scorer.setup_seconds, 3), **seconds})

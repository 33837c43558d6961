"""Recipes: named presets and user YAML files that compose generators with probabilities.

A recipe is data (STYLE pattern 4)::

    name: my_line            # optional; defaults to the file stem
    normal_fraction: 0.2     # fraction of samples left normal (label 0, empty mask)
    generators:              # one generator is drawn per sample, by weight
      - name: cutpaste-scar
        weight: 2
        params: {}
      - name: texture
        weight: 1
        params: {beta: [0.1, 0.6]}

Example:
    >>> import numpy as np
    >>> from adsynth.synth.recipes import load_recipe
    >>> recipe = load_recipe("cutpaste-scar")
    >>> res = recipe.apply(np.zeros((64, 64, 3), np.uint8) + 128, np.random.default_rng(0))
    >>> res.label
    1
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adsynth.data.format import GOOD
from adsynth.errors import ConfigError
from adsynth.registry import Registry
from adsynth.synth import GENERATORS, Generator, SynthContext, SynthResult, load_generators

if TYPE_CHECKING:
    from adsynth.synth.ognet import CheckpointLoader

RECIPES: Registry[dict[str, Any]] = Registry("recipe")

_TOP_KEYS = {"name", "description", "paper", "normal_fraction", "generators"}
_GEN_KEYS = {"name", "weight", "params"}


def _preset(
    name: str, description: str, generators: list[dict[str, Any]], normal_fraction: float = 0.0
) -> None:
    RECIPES.add(
        name,
        {
            "name": name,
            "description": description,
            "normal_fraction": normal_fraction,
            "generators": generators,
        },
    )


# One preset per generator with the paper's defaults (the generators' own defaults), and a mixture.
_preset("noise", "Gaussian / uniform / salt-and-pepper noise in random regions", [{"name": "noise"}])
_preset("erasure", "random erasure of ellipses, polygons and brush strokes", [{"name": "erasure"}])
_preset("grid", "RIAD grid masks (k in {2,4,8,16}, n disjoint sets)", [{"name": "grid"}])
_preset("stripes", "SCADN multi-scale striped masks", [{"name": "stripes"}])
_preset("cutpaste", "CutPaste: a rectangular patch cut and pasted elsewhere", [{"name": "cutpaste"}])
_preset("cutpaste-scar", "CutPaste-Scar: a thin rotated patch", [{"name": "cutpaste-scar"}])
_preset(
    "cutpaste-3way", "CutPaste 3-way: normal / cutpaste / scar (labels 0/1/2)", [{"name": "cutpaste-3way"}]
)
_preset("poisson", "NSA: patches of another image, Poisson-blended", [{"name": "poisson"}])
# DRAEM leaves half of its training samples without an anomaly (METHODS §1.1).
_preset(
    "draem",
    "DRAEM: Perlin-noise regions filled with a blended texture (half left normal)",
    [{"name": "texture"}],
    normal_fraction=0.5,
)
_preset(
    "memseg",
    "MemSeg: Perlin regions inside the object foreground, texture or structure",
    [{"name": "memseg"}],
)
_preset(
    "shading",
    "uneven shading: a large band or blob of changed brightness, contrast and grain",
    [{"name": "shading"}],
)
_preset("ognet", "OGNet: average of two normal images (image-level label)", [{"name": "ognet"}])
_preset("superpixel", "SMAI: SLIC superpixels masked", [{"name": "superpixel"}])
_preset(
    "mixed",
    "a mixture of local defects for evaluating which kinds a model catches",
    [
        {"name": "cutpaste"},
        {"name": "cutpaste-scar"},
        {"name": "texture"},
        {"name": "noise"},
        {"name": "erasure"},
        {"name": "superpixel"},
    ],
    normal_fraction=0.0,
)


@dataclass
class Recipe:
    """A validated recipe: generators with normalised weights and the fraction of normal samples."""

    name: str
    generators: list[Generator]
    weights: np.ndarray
    normal_fraction: float = 0.0
    description: str = ""
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_pool(self) -> bool:
        return any(g.needs_pool for g in self.generators)

    def apply(
        self, image: np.ndarray, rng: np.random.Generator, context: SynthContext | None = None
    ) -> SynthResult:
        """One sample: either left normal (``normal_fraction``) or one drawn generator's defect.

        ``res.params`` is the provenance: recipe, generator and every value it drew.
        """
        if self.normal_fraction > 0 and rng.random() < self.normal_fraction:
            mask = np.zeros(image.shape[:2], np.uint8)
            return SynthResult(image.copy(), mask, 0, {"recipe": self.name, "generator": None}, [])
        k = int(rng.choice(len(self.generators), p=self.weights)) if len(self.generators) > 1 else 0
        gen = self.generators[k]
        res = gen.synthesize(image, rng, context=context)
        res.params = {"recipe": self.name, "generator": gen.name, "params": res.params}
        return res

    @staticmethod
    def defect_type(res: SynthResult) -> str:
        """The defect type recorded for a result: the generator's name, ``good`` when left normal."""
        return res.params.get("generator") or GOOD if res.label else GOOD

    def to_dict(self) -> dict[str, Any]:
        return self.spec


def _build_generator(
    entry: dict[str, Any], where: str, textures: str | None, checkpoint_loader: CheckpointLoader | None = None
) -> Generator:
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(f"{where}: each generator entry needs a `name`")
    unknown = set(entry) - _GEN_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)} (valid: {', '.join(sorted(_GEN_KEYS))})"
        )
    cls = GENERATORS.get(entry["name"])
    params = dict(entry.get("params") or {})
    if not isinstance(params, dict):
        raise ConfigError(f"{where}: `params` of {entry['name']!r} must be a mapping")
    accepted = GENERATORS.params(entry["name"]) or {}
    if textures is not None and "textures" in accepted and "textures" not in params:
        params["textures"] = textures
    if checkpoint_loader is not None and "checkpoint_loader" in accepted:
        params["checkpoint_loader"] = checkpoint_loader
    GENERATORS.check_params(entry["name"], params, where)
    try:
        return cls(**params)
    except ConfigError as e:
        raise ConfigError(f"{where}: {entry['name']}: {e}") from None


def recipe_from_dict(
    spec: dict[str, Any],
    where: str = "recipe",
    textures: str | None = None,
    checkpoint_loader: CheckpointLoader | None = None,
) -> Recipe:
    """Validate a recipe mapping and build its generators (``checkpoint_loader``: see :func:`load_recipe`)."""
    load_generators()
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a recipe must be a mapping with a `generators` list")
    unknown = set(spec) - _TOP_KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {sorted(unknown)} (valid: {', '.join(sorted(_TOP_KEYS))})"
        )
    entries = spec.get("generators")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: `generators` must be a non-empty list")
    try:
        nf = float(spec.get("normal_fraction", 0.0))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: `normal_fraction` must be a number in [0, 1)") from None
    if not 0.0 <= nf < 1.0:
        raise ConfigError(f"{where}: `normal_fraction` must be in [0, 1), got {nf}")
    gens = [_build_generator(e, where, textures, checkpoint_loader) for e in entries]
    w = []
    for e in entries:
        try:
            w.append(float(e.get("weight", 1.0)))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: `weight` of {e['name']!r} must be a positive number") from None
    weights = np.asarray(w, float)
    if (weights <= 0).any() or not np.isfinite(weights).all():
        raise ConfigError(f"{where}: every `weight` must be a positive number")
    full = dict(spec)
    full["generators"] = [
        {"name": g.name, "weight": float(wi), "params": g.config()}
        for g, wi in zip(gens, weights, strict=True)
    ]
    return Recipe(
        name=str(spec.get("name", "recipe")),
        generators=gens,
        weights=weights / weights.sum(),
        normal_fraction=nf,
        description=str(spec.get("description", "")),
        spec=full,
    )


def load_recipe(
    name_or_path: str | os.PathLike,
    *,
    textures: str | None = None,
    normal_fraction: float | None = None,
    checkpoint_loader: CheckpointLoader | None = None,
) -> Recipe:
    """A registered preset by name, or a YAML recipe file.

    Args:
        name_or_path: preset name (``adsynth recipes``) or a ``.yaml``/``.yml`` path.
        textures: folder of texture images for generators that take one (``draem``, ``memseg``).
        normal_fraction: override the recipe's fraction of normal samples.
        checkpoint_loader: ``load(path) -> image function`` for generators that take a ``checkpoint``
            (``ognet``), e.g. :func:`adsynth.zoo.checkpoint.load_reconstructor`; synth never imports
            the zoo, so the caller passes it.
    """
    s = str(name_or_path)
    if s.endswith((".yaml", ".yml")) or os.sep in s:
        p = Path(s)
        if not p.is_file():
            raise ConfigError(f"recipe file {p} not found")
        import yaml

        try:
            spec = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: invalid YAML ({str(e).splitlines()[0]})") from None
        if isinstance(spec, dict):
            spec.setdefault("name", p.stem)
        where = str(p)
    else:
        spec = dict(RECIPES.get(s))
        where = f"recipe {s!r}"
    if normal_fraction is not None:
        spec = {**spec, "normal_fraction": normal_fraction}
    return recipe_from_dict(spec, where, textures, checkpoint_loader)


def list_recipes() -> list[dict[str, Any]]:
    """Name, generators, family, description and paper of every preset (for ``adsynth recipes``)."""
    load_generators()
    rows = []
    for name, spec in RECIPES.items():
        gens = [e["name"] for e in spec["generators"]]
        classes = [GENERATORS.get(g) for g in gens if g in GENERATORS]
        rows.append(
            {
                "name": name,
                "generators": gens,
                "family": ", ".join(sorted({c.family for c in classes if c.family})),
                "description": spec["description"],
                "paper": classes[0].paper if len(classes) == 1 else f"{len(classes)} generators (see each)",
                "normal_fraction": spec["normal_fraction"],
            }
        )
    return rows

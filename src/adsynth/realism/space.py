"""The declared search space of each generator, for ``adsynth recipes fit``.

Per generator, the parameters worth tuning towards a line's real defects: sizes, shapes, blend /
opacity, colour / contrast and the texture source. Every range lies inside what the generator's own
validation accepts (``tests/realism`` builds each generator at both ends of every range). A range
parameter ``(min, max)`` of a generator is searched as its lower end and the fraction of the remaining
range that the upper end takes, so every trial is a valid interval. In a recipe of several generators,
their weights are searched too.

A user narrows the space with a mapping (``--space space.yaml``) of ``<generator>.<parameter>`` to a
``[low, high]`` inside the declared range, or to a subset of the declared choices; only the listed
parameters are then searched, the others keep the base recipe's values.

Example:
    >>> from adsynth.realism.space import recipe_space
    >>> [e.key for e in recipe_space({"generators": [{"name": "texture"}]})][:3]
    ['texture.threshold', 'texture.scale_exponents', 'texture.beta']
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from adsynth.errors import ConfigError

KINDS = ("float", "int", "interval", "int_interval", "symmetric", "choice")


@dataclass(frozen=True)
class Dim:
    """One searchable parameter of a generator.

    Attributes:
        param: the generator's keyword (``weight``: the generator's weight in the recipe).
        kind: ``float`` / ``int`` (a number in [low, high]), ``interval`` / ``int_interval`` (a pair
            ``(min, max)`` inside [low, high]), ``symmetric`` (``(-r, r)`` with r in [low, high]) or
            ``choice`` (one of ``choices``).
        low, high: the range of a numeric kind.
        log: search the range on a log scale.
        choices: the labels of a ``choice`` (str or int, as Optuna stores them).
        values: label -> parameter value, for labels that stand for something else (a list of shapes).
        per_axis: an interval written ``((min, max), (min, max))`` (one per image axis).
        help: what the parameter changes in the defect.
    """

    param: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[Any, ...] = ()
    values: Mapping[Any, Any] | None = None
    per_axis: bool = False
    help: str = ""

    def value_of(self, label: Any) -> Any:
        return copy.deepcopy(self.values[label]) if self.values and label in self.values else label

    def range_text(self) -> str:
        if self.kind == "choice":
            return ", ".join(str(c) for c in self.choices)
        scale = " (log)" if self.log else ""
        return f"[{self.low:g}, {self.high:g}]{scale}"


_TEXTURE = (
    Dim("threshold", "float", 0.3, 0.9, help="Perlin threshold: higher, smaller and patchier regions"),
    Dim("scale_exponents", "int_interval", 0, 6, help="Perlin scales 2^k: low k, large smooth blobs"),
    Dim("beta", "interval", 0.0, 1.0, help="opacity: weight of the original image inside the region"),
    Dim("augmentations", "int", 0, 6, help="colour / contrast augmentations of the texture"),
    Dim("builtin", "choice", choices=("all", "skimage", "procedural"), help="texture source (no --textures)"),
    Dim("structure_prob", "float", 0.0, 1.0, help="probability of a tile-shuffled copy of the image"),
)
_JITTER = Dim("color_jitter", "float", 0.0, 0.5, help="colour / contrast jitter of the patch")
_CUTPASTE = (
    Dim("area_ratio", "interval", 0.002, 0.3, log=True, help="patch area, fraction of the image"),
    Dim("aspect_ratio", "float", 0.1, 1.0, help="aspect ratio drawn in [a, 1/a]"),
)
_SCAR = (
    Dim("scar_width", "interval", 1.0, 64.0, log=True, help="scar width, px at 256 px"),
    Dim("scar_height", "interval", 2.0, 128.0, log=True, help="scar length, px at 256 px"),
    Dim("rotation", "symmetric", 0.0, 180.0, help="scar rotation within ±r degrees"),
)
_KINDS = {"gaussian": ["gaussian"], "uniform": ["uniform"], "salt_pepper": ["salt_pepper"]}
_ERASE_SHAPES = {s: [s] for s in ("ellipse", "polygon", "brush", "rect")}

#: generator name -> its searchable parameters (generators not listed have none: grid, stripes, ognet)
SPACES: dict[str, tuple[Dim, ...]] = {
    "texture": _TEXTURE,
    "memseg": _TEXTURE,
    "cutpaste": (*_CUTPASTE, _JITTER),
    "cutpaste-scar": (*_SCAR, _JITTER),
    "cutpaste-3way": (*_CUTPASTE, *_SCAR, _JITTER),
    "poisson": (
        Dim("num_patches", "int", 1, 4, help="most patches per defect"),
        Dim("extra_patch_prob", "float", 0.0, 1.0, help="probability of each further patch"),
        Dim("width_bounds", "interval", 0.02, 0.5, log=True, per_axis=True, help="patch half-size bounds"),
        Dim(
            "gamma_params",
            "choice",
            choices=("nsa", "uniform"),
            values={"nsa": [2.0, 0.05, 0.03], "uniform": None},
            help="patch size law",
        ),  # fmt: skip
        Dim("resize_bounds", "interval", 0.3, 3.0, log=True, help="patch rescaling"),
        Dim("mode", "choice", choices=("normal", "mixed"), help="Poisson gradients: source or mixed"),
    ),
    "noise": (
        Dim(
            "kinds",
            "choice",
            choices=(*_KINDS, "all"),
            values={**_KINDS, "all": ["gaussian", "uniform", "salt_pepper"]},
            help="noise kind",
        ),  # fmt: skip
        Dim("count", "int_interval", 1, 4, help="regions per defect"),
        Dim("area", "interval", 0.001, 0.3, log=True, help="region area, fraction of the image"),
        Dim(
            "shapes",
            "choice",
            choices=("rect", "ellipse", "both"),
            values={"rect": ["rect"], "ellipse": ["ellipse"], "both": ["rect", "ellipse"]},
        ),  # fmt: skip
        Dim("sigma", "interval", 1.0, 120.0, help="Gaussian noise strength (grey levels)"),
        Dim("amplitude", "interval", 5.0, 200.0, help="uniform noise strength (grey levels)"),
    ),
    "erasure": (
        Dim(
            "shapes",
            "choice",
            choices=(*_ERASE_SHAPES, "mixed"),
            values={**_ERASE_SHAPES, "mixed": ["ellipse", "polygon", "brush"]},
            help="shape",
        ),  # fmt: skip
        Dim("count", "int_interval", 1, 4, help="shapes per defect"),
        Dim("area", "interval", 0.0005, 0.3, log=True, help="shape area, fraction of the image"),
        Dim(
            "fill",
            "choice",
            choices=("random", "noise", "mean", 0, 32, 64, 96, 128, 160, 192, 224, 255),
            help="fill colour: random, noise, the image mean or a grey level",
        ),  # fmt: skip
    ),
    "shading": (
        Dim(
            "shapes",
            "choice",
            choices=("band", "blob", "mixed"),
            values={"band": ["band"], "blob": ["blob"], "mixed": ["band", "blob"]},
            help="region: a band from an edge, a large blob, or either",
        ),  # fmt: skip
        Dim("coverage", "interval", 0.02, 0.9, help="share of the image the region covers"),
        Dim("gain", "interval", 0.3, 2.5, log=True, help="factor on the region's brightness"),
        Dim("contrast", "interval", 0.2, 3.0, log=True, help="factor on the region's contrast"),
        Dim("grain_prob", "float", 0.0, 1.0, help="probability of directional grain (streaks)"),
        Dim("softness", "interval", 0.0, 8.0, help="border blend width, px"),
    ),
    "superpixel": (
        Dim("n_segments", "int", 10, 200, log=True, help="superpixels per image: fewer, larger defects"),
        Dim("compactness", "float", 1.0, 100.0, log=True, help="SLIC compactness: higher, rounder"),
        Dim("fraction", "interval", 0.01, 0.5, help="fraction of the superpixels hidden"),
        Dim("fill", "choice", choices=("mean", "random", 0, 128, 255), help="fill of the hidden ones"),
    ),
}
#: the weight of a generator in a recipe of several
WEIGHT = Dim("weight", "float", 0.1, 10.0, log=True, help="how often this generator is drawn")


@dataclass(frozen=True)
class Entry:
    """A :class:`Dim` of one generator entry of a recipe."""

    index: int
    key: str
    dim: Dim


def recipe_space(spec: Mapping[str, Any]) -> list[Entry]:
    """The declared search space of a recipe mapping (its generators' spaces, and their weights when
    there are several). Keys are ``<generator>.<param>``, ``<generator>#<i>.<param>`` when a generator
    appears twice."""
    gens = [e["name"] for e in spec.get("generators") or []]
    out = []
    for i, name in enumerate(gens):
        prefix = name if gens.count(name) == 1 else f"{name}#{i}"
        dims = (*SPACES.get(name, ()), *((WEIGHT,) if len(gens) > 1 else ()))
        out += [Entry(i, f"{prefix}.{d.param}", d) for d in dims]
    return out


def _norm(x: Any) -> Any:
    return [_norm(v) for v in x] if isinstance(x, (list, tuple)) else x


def _base_value(e: Entry, spec: Mapping[str, Any]) -> Any:
    g = spec["generators"][e.index]
    return g.get("weight", 1.0) if e.dim.param == "weight" else (g.get("params") or {}).get(e.dim.param)


def include_base(entries: list[Entry], spec: Mapping[str, Any]) -> list[Entry]:
    """The entries widened so that the base recipe (``spec``: a validated recipe's full mapping) is a
    point of the space: its value of a ``choice`` becomes a choice (labelled ``base`` when it is not a
    plain value), its numbers widen a range. The base recipe was validated, so the widened space stays
    valid for the generator."""
    out = []
    for e in entries:
        d, v = e.dim, _base_value(e, spec)
        if d.kind == "choice":
            if not any(_norm(d.value_of(c)) == _norm(v) for c in d.choices):
                plain = v is None or isinstance(v, (bool, int, float, str))
                label = v if plain else "base"
                values = {**(d.values or {}), **({} if plain else {"base": _norm(v)})}
                d = replace(d, choices=(*d.choices, label), values=values or None)
        elif v is not None:
            flat = [float(x) for x in _flatten(v)]
            if d.kind == "symmetric":
                flat = [abs(x) for x in flat]
            low = d.low if d.kind == "symmetric" else min(d.low, *flat)
            d = replace(d, low=low, high=max(d.high, *flat))
        out.append(replace(e, dim=d))
    return out


def _flatten(v: Any) -> list[Any]:
    return [y for x in v for y in _flatten(x)] if isinstance(v, (list, tuple)) else [v]


def _bounds_override(e: Entry, value: Any) -> Dim:
    d = e.dim
    if d.kind == "choice":
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        bad = [v for v in items if v not in d.choices]
        if not items or bad:
            raise ConfigError(f"`{e.key}`: expected a subset of ({d.range_text()}), got {value!r}")
        return replace(d, choices=tuple(c for c in d.choices if c in items))
    what = f"`{e.key}`: expected a range [low, high] inside {d.range_text()}, got {value!r}"
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(what) from None
    if not (d.low <= lo <= hi <= d.high) or (d.log and lo <= 0):
        raise ConfigError(what)
    return replace(d, low=lo, high=hi)


def narrow(entries: list[Entry], overrides: Mapping[str, Any]) -> list[Entry]:
    """Only the parameters named in ``overrides``, each with its narrowed range or choices.

    Raises:
        ConfigError: an unknown key, or a range / choice outside the declared one.
    """
    if not isinstance(overrides, Mapping) or not overrides:
        raise ConfigError("expected the search space to be a non-empty mapping of `<generator>.<param>`")
    by_key = {e.key: e for e in entries}
    out = []
    for key, value in overrides.items():
        if key not in by_key:
            valid = ", ".join(by_key) or "none"
            raise ConfigError(f"unknown search parameter {key!r} (valid: {valid})")
        e = by_key[key]
        out.append(replace(e, dim=_bounds_override(e, value)))
    return out


def _name(key: str, part: str = "") -> str:
    return f"{key}.{part}" if part else key


def suggest(trial: Any, entries: list[Entry]) -> dict[str, Any]:
    """Draw one point from an Optuna ``trial`` (or ``FixedTrial``): key -> parameter value."""
    out: dict[str, Any] = {}
    for e in entries:
        d = e.dim
        if d.kind == "choice":
            out[e.key] = d.value_of(trial.suggest_categorical(e.key, list(d.choices)))
        elif d.kind == "float":
            out[e.key] = trial.suggest_float(e.key, d.low, d.high, log=d.log)
        elif d.kind == "int":
            out[e.key] = trial.suggest_int(e.key, int(d.low), int(d.high), log=d.log)
        elif d.kind == "symmetric":
            r = trial.suggest_float(e.key, d.low, d.high, log=d.log)
            out[e.key] = [-r, r]
        else:
            span = trial.suggest_float(_name(e.key, "span"), 0.0, 1.0)
            if d.kind == "int_interval":
                lo = trial.suggest_int(_name(e.key, "lo"), int(d.low), int(d.high))
                pair: list[Any] = [lo, lo + int(round(span * (int(d.high) - lo)))]
            else:
                lo = trial.suggest_float(_name(e.key, "lo"), d.low, d.high, log=d.log)
                hi = lo * (d.high / lo) ** span if d.log else lo + span * (d.high - lo)
                pair = [lo, min(max(hi, lo), d.high)]
            out[e.key] = [pair, list(pair)] if d.per_axis else pair
    return out


def _clip(x: float, d: Dim) -> float:
    return min(max(float(x), d.low), d.high)


def base_point(entries: list[Entry], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The Optuna parameters that reproduce the base recipe (``spec``: a validated recipe's full
    mapping, every generator parameter present) as closely as the space allows; parameters whose base
    value the space cannot express are left out (the sampler draws them)."""
    out: dict[str, Any] = {}
    for e in entries:
        d, v = e.dim, _base_value(e, spec)
        if v is None and d.kind != "choice":
            continue
        if d.kind == "choice":
            hit = [c for c in d.choices if _norm(d.value_of(c)) == _norm(v)]
            if hit:
                out[e.key] = hit[0]
        elif d.kind in ("float", "int"):
            out[e.key] = int(round(_clip(v, d))) if d.kind == "int" else _clip(v, d)
        elif d.kind == "symmetric":
            out[e.key] = _clip(max(abs(float(v[0])), abs(float(v[1]))), d)
        else:
            lo, hi = (float(x) for x in (v[0] if d.per_axis else v))
            lo, hi = _clip(lo, d), _clip(hi, d)
            if d.kind == "int_interval":
                lo, hi = int(round(lo)), int(round(hi))
                span = (hi - lo) / (d.high - lo) if d.high > lo else 0.0
            elif d.log:
                span = math.log(hi / lo) / math.log(d.high / lo) if d.high > lo else 0.0
            else:
                span = (hi - lo) / (d.high - lo) if d.high > lo else 0.0
            out[_name(e.key, "lo")] = lo
            out[_name(e.key, "span")] = min(max(span, 0.0), 1.0)
    return out


def apply_point(spec: Mapping[str, Any], entries: list[Entry], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the recipe mapping ``spec`` with the drawn ``values`` set in its generator entries."""
    out = copy.deepcopy(dict(spec))
    out["generators"] = [dict(g) for g in out["generators"]]
    for e in entries:
        g = out["generators"][e.index]
        if e.dim.param == "weight":
            g["weight"] = values[e.key]
        else:
            g["params"] = {**(g.get("params") or {}), e.dim.param: values[e.key]}
    return out

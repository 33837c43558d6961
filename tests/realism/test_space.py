"""The declared search spaces: valid at both ends, narrowed with checks, the base recipe a point of it."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from adsynth.errors import ConfigError
from adsynth.realism.fit import raw_spec
from adsynth.realism.space import (
    SPACES,
    WEIGHT,
    apply_point,
    base_point,
    include_base,
    narrow,
    recipe_space,
    suggest,
)
from adsynth.synth import GENERATORS, load_generators
from adsynth.synth.recipes import RECIPES, load_recipe, recipe_from_dict


def _ends(dim, high: bool):
    """The parameter value at one end of a dim."""
    if dim.kind == "choice":
        return [dim.value_of(c) for c in dim.choices]
    v = dim.high if high else dim.low
    if dim.kind in ("int", "int_interval"):
        v = int(v)
    if dim.kind in ("float", "int"):
        return [v]
    if dim.kind == "symmetric":
        return [[-v, v]]
    pair = [v, v] if not high else [dim.low, dim.high]
    return [[pair, list(pair)] if dim.per_axis else pair]


def test_every_space_belongs_to_a_registered_generator():
    load_generators()
    assert set(SPACES) <= set(GENERATORS.list())


@pytest.mark.parametrize("name", sorted(SPACES))
def test_every_declared_range_builds_a_valid_generator(name):
    cls = GENERATORS.get(name)
    for dim in SPACES[name]:
        assert dim.param in GENERATORS.params(name), (name, dim.param)
        for high in (False, True):
            for value in _ends(dim, high):
                cls(**{dim.param: value})  # raises ConfigError when outside the generator's validation


@pytest.mark.parametrize("recipe", sorted(r for r in RECIPES.list() if recipe_space(RECIPES.get(r))))
def test_the_base_recipe_is_a_point_of_its_space(recipe):
    full = load_recipe(recipe).spec
    entries = include_base(recipe_space(raw_spec(recipe)), full)
    values = suggest(optuna.trial.FixedTrial(base_point(entries, full)), entries)
    again = recipe_from_dict(apply_point(raw_spec(recipe), entries, values)).spec
    for g0, g1 in zip(full["generators"], again["generators"], strict=True):
        assert g0["weight"] == pytest.approx(g1["weight"])
        for k, v in g0["params"].items():
            if isinstance(v, (list, float)) and v and not isinstance(v[0] if isinstance(v, list) else v, str):
                assert np.allclose(np.asarray(v, float), np.asarray(g1["params"][k], float)), (recipe, k)
            else:
                assert g1["params"][k] == v, (recipe, k)


def test_a_base_value_outside_the_declared_space_widens_it():
    spec = {"generators": [{"name": "erasure", "params": {"fill": 15, "area": [0.4, 0.5]}}]}
    full = recipe_from_dict(spec).spec
    by_key = {e.key: e.dim for e in include_base(recipe_space(spec), full)}
    assert 15 in by_key["erasure.fill"].choices and by_key["erasure.area"].high == 0.5


def test_a_mixture_searches_the_weights():
    keys = [e.key for e in recipe_space(RECIPES.get("mixed"))]
    assert "texture.weight" in keys and "erasure.fill" in keys
    assert all(e.dim is not WEIGHT for e in recipe_space(RECIPES.get("draem")))


def test_narrowing_keeps_only_the_listed_parameters_inside_their_ranges():
    entries = recipe_space(RECIPES.get("draem"))
    got = narrow(entries, {"texture.beta": [0.2, 0.6], "texture.builtin": ["procedural"]})
    assert [(e.key, e.dim.low, e.dim.high) for e in got][0] == ("texture.beta", 0.2, 0.6)
    assert got[1].dim.choices == ("procedural",)
    with pytest.raises(ConfigError, match=r"texture.beta.*inside \[0, 1\]"):
        narrow(entries, {"texture.beta": [0.2, 1.5]})
    with pytest.raises(ConfigError, match="unknown search parameter 'texture.bta'"):
        narrow(entries, {"texture.bta": [0, 1]})
    with pytest.raises(ConfigError, match="subset"):
        narrow(entries, {"texture.builtin": ["dtd"]})
    with pytest.raises(ConfigError, match="non-empty mapping"):
        narrow(entries, {})

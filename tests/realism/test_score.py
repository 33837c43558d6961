"""The realism score: deterministic, ranks a recipe that mimics the toy defects first, clear errors."""

from __future__ import annotations

import pytest
from realism_helpers import write_toy_line

from adsynth.errors import ConfigError, DataError, OutputExistsError
from adsynth.realism.report import FILES, score_csv, score_json, write_score_report
from adsynth.realism.score import BASELINE, score_recipes

FAST = {"image_size": 48, "samples": 8}


def _scores(table):
    return {(r.recipe, r.defect_type): r.score for r in table.rows}


def test_same_seed_same_numbers_and_bytes(toy_line, toy_recipes, tmp_path):
    recipes = [str(p) for p in toy_recipes] + ["cutpaste-scar"]
    a = score_recipes(toy_line, recipes, seed=3, **FAST)
    b = score_recipes(toy_line, recipes, seed=3, **FAST)
    assert _scores(a) == _scores(b)
    assert score_json(a) == score_json(b) and score_csv(a) == score_csv(b)
    c = score_recipes(toy_line, recipes, seed=4, **FAST)
    assert _scores(c) != _scores(a)
    files = write_score_report(a, tmp_path / "score")
    assert [f.name for f in files] == list(FILES) and all(f.stat().st_size > 0 for f in files)
    with pytest.raises(OutputExistsError, match="not empty"):
        write_score_report(a, tmp_path / "score")


def test_a_recipe_that_mimics_the_defects_ranks_above_an_unrelated_one(toy_line, toy_recipes):
    table = score_recipes(toy_line, [str(p) for p in toy_recipes], **FAST)
    s = _scores(table)
    assert s[("mimic", "spot")] < s[("unrelated", "spot")]
    assert s[("mimic", "spot")] < table.baseline[0].score
    mimic = next(r for r in table.rows if r.recipe == "mimic")
    unrelated = next(r for r in table.rows if r.recipe == "unrelated")
    # dark like the real spots, where the unrelated patches are bright and large
    assert mimic.synthetic_stats["contrast"] < 0 < unrelated.synthetic_stats["contrast"]
    assert abs(mimic.stat_diffs["area"]) < abs(unrelated.stat_diffs["area"])
    assert table.baseline[0].recipe == BASELINE and table.meta["real_counts"] == {"spot": 6}


def test_no_real_defects_is_an_error_unless_the_test_split_is_asked_for(tmp_path, toy_recipes):
    data = write_toy_line(tmp_path / "plain.h5", defects=False)
    with pytest.raises(DataError, match="no real defects in the train split.*split-defects"):
        score_recipes(data, [str(toy_recipes[0])], **FAST)
    table = score_recipes(data, [str(toy_recipes[0])], real_split="test", **FAST)
    assert table.meta["real_split"] == "test" and table.meta["real_counts"] == {"spot": 2}


def test_bad_recipes_are_refused_before_any_work(toy_line, tmp_path):
    with pytest.raises(ConfigError, match="did you mean draem"):
        score_recipes(toy_line, ["draemm"], **FAST)
    bad = tmp_path / "bad.yaml"
    bad.write_text("generators:\n  - name: texture\n    params: {beta: [0.2, 1.5]}\n")
    with pytest.raises(ConfigError, match="beta"):
        score_recipes(toy_line, [str(bad)], **FAST)
    with pytest.raises(ConfigError, match="no real defect of type 'crack'"):
        score_recipes(toy_line, ["noise"], defect_types=["crack"], **FAST)


def test_an_image_level_recipe_scores_nan_with_a_note(toy_line):
    table = score_recipes(toy_line, ["ognet"], **FAST)
    row = table.rows[0]
    assert row.n_synthetic == 0 and row.score != row.score and "pixel mask" in row.note
    assert b"NaN" not in score_json(table)

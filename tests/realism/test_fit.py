"""Recipe fitting: improves the score on a toy line, same seed same trials, resume, refused inputs."""

from __future__ import annotations

import optuna
import pytest
from realism_helpers import write_toy_line

from adsynth.errors import ConfigError, DataError, OutputExistsError
from adsynth.realism.fit import STUDY_NAME, fit_recipe, study_path
from adsynth.synth.recipes import load_recipe

FAST = {"image_size": 40, "samples": 6}


def _trials(out):
    study = optuna.load_study(study_name=STUDY_NAME, storage=f"sqlite:///{study_path(out)}")
    return [(t.params, t.value) for t in study.trials]


def test_the_fit_improves_its_objective_and_writes_a_recipe_generate_takes(toy_line, toy_recipes, tmp_path):
    from click.testing import CliRunner

    from adsynth.cli.main import cli
    from adsynth.data.reader import DatasetReader

    out = tmp_path / "fitted.yaml"
    lines = []
    r = fit_recipe(toy_line, str(toy_recipes[1]), out, trials=6, seed=0, log=lines.append, **FAST)
    assert r.best_score < r.base_score and r.best_trial > 0 and len(lines) == 6
    text = out.read_text()
    assert text.startswith("# Fitted by `adsynth recipes fit`") and "seed 0" in text and "unrelated" in text
    assert f"best {r.best_score:.4f}" in text
    recipe = load_recipe(str(out))
    assert recipe.name == "fitted" and recipe.generators[0].name == "erasure"
    g = tmp_path / "g.h5"
    res = CliRunner().invoke(
        cli, ["generate", "--recipe", str(out), "--input", str(toy_line), "--out", str(g)]
    )
    assert res.exit_code == 0, res.output
    assert (DatasetReader(g).labels == 1).all()


def test_same_seed_same_trials_and_resume_continues_as_if_uninterrupted(toy_line, tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    fit_recipe(toy_line, "noise", a, trials=4, seed=5, **FAST)
    fit_recipe(toy_line, "noise", b, trials=2, seed=5, **FAST)
    r = fit_recipe(toy_line, "noise", b, trials=4, seed=5, resume=True, **FAST)
    assert r.n_trials == 4 and r.n_new == 2
    assert _trials(a) == _trials(b)
    assert a.read_text().split("generators:")[1] == b.read_text().split("generators:")[1]
    with pytest.raises(OutputExistsError, match="already exists"):
        fit_recipe(toy_line, "noise", b, trials=4, seed=5, **FAST)
    b.unlink()
    with pytest.raises(OutputExistsError, match="--resume"):
        fit_recipe(toy_line, "noise", b, trials=4, seed=5, **FAST)
    with pytest.raises(ConfigError, match="other settings"):
        fit_recipe(toy_line, "noise", b, trials=5, seed=6, resume=True, **FAST)
    r = fit_recipe(toy_line, "noise", b, trials=1, seed=6, overwrite=True, **FAST)
    assert r.n_trials == 1 and r.best_score == r.base_score


def test_bad_input_is_refused(toy_line, tmp_path):
    out = tmp_path / "f.yaml"
    with pytest.raises(ConfigError, match="did you mean draem"):
        fit_recipe(toy_line, "draemm", out, trials=2, **FAST)
    with pytest.raises(ConfigError, match=r"texture.beta.*inside"):
        fit_recipe(toy_line, "draem", out, trials=2, space={"texture.beta": [0, 2]}, **FAST)
    with pytest.raises(ConfigError, match="nothing to search"):
        fit_recipe(toy_line, "grid", out, trials=2, **FAST)
    with pytest.raises(ConfigError, match=".yaml"):
        fit_recipe(toy_line, "draem", tmp_path / "f.txt", trials=2, **FAST)
    with pytest.raises(ConfigError, match="positive int"):
        fit_recipe(toy_line, "draem", out, trials=0, **FAST)
    plain = write_toy_line(tmp_path / "plain.h5", defects=False)
    with pytest.raises(DataError, match="no real defects"):
        fit_recipe(plain, "draem", out, trials=2, **FAST)
    assert not out.exists()

"""``adsynth recipes`` (listing), ``recipes score``, ``recipes fit`` and ``recipes space`` from the CLI."""

from __future__ import annotations

import json

from click.testing import CliRunner
from realism_helpers import write_toy_line

from adsynth.cli.main import cli

SMALL = ["--image-size", "40", "--samples", "6"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(r, code, text):
    lines = r.output.strip().splitlines()
    assert r.exit_code == code, r.output
    assert len(lines) == 1 and lines[0].startswith("Error:") and text in lines[0], r.output


def test_the_listing_stays_as_it_was():
    r = run("recipes")
    assert r.exit_code == 0 and "| draem |" in r.output and "| mixed |" in r.output
    r = run("recipes", "--json")
    assert r.exit_code == 0 and {x["name"] for x in json.loads(r.output)} >= {"draem", "mixed"}


def test_score_writes_its_report_and_refuses_an_existing_one(toy_line, toy_recipes, tmp_path):
    out = tmp_path / "score"
    args = [
        "recipes",
        "score",
        "--data",
        toy_line,
        "--recipes",
        f"{toy_recipes[0]},cutpaste-scar",
        "--out",
        out,
    ]
    r = run(*args, *SMALL)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["score.csv", "score.json", "score.md", "score.png"]
    assert "mimic" in (out / "score.md").read_text()
    one_line_error(run(*args, *SMALL), 2, "not empty")
    assert run(*args, *SMALL, "--overwrite").exit_code == 0


def test_score_errors_are_one_line(toy_line, tmp_path):
    plain = write_toy_line(tmp_path / "plain.h5", defects=False)
    score = ("recipes", "score", "--data")
    r = run(*score, plain, "--recipes", "draem", "--out", tmp_path / "a")
    one_line_error(r, 1, "no real defects in the train split")
    one_line_error(run(*score, toy_line, "--recipes", "draem,drem", "--out", tmp_path / "b"), 2, "'drem'")
    bad = tmp_path / "bad.yaml"
    bad.write_text("generators:\n  - name: erasure\n    params: {area: [0.5, 2.0]}\n")
    one_line_error(run(*score, toy_line, "--recipes", bad, "--out", tmp_path / "c"), 2, "area")
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_fit_from_the_cli_and_its_errors(toy_line, tmp_path):
    out = tmp_path / "fitted.yaml"
    r = run("recipes", "fit", "--data", toy_line, "--base", "draem", "--trials", "2", "--out", out, *SMALL,
            "--quiet")  # fmt: skip
    assert r.exit_code == 0 and r.output == "", r.output
    assert run("generate", "--recipe", out, "--input", toy_line, "--out", tmp_path / "g.h5").exit_code == 0
    one_line_error(
        run("recipes", "fit", "--data", toy_line, "--base", "draem", "--out", out), 2, "already exists"
    )
    space = tmp_path / "space.yaml"
    space.write_text("texture.threshold: [0.1, 0.5]\n")
    one_line_error(run("recipes", "fit", "--data", toy_line, "--base", "draem", "--out", tmp_path / "x.yaml",
                       "--space", space), 2, "texture.threshold")  # fmt: skip
    one_line_error(run("recipes", "fit", "--data", toy_line, "--base", "draem", "--out", tmp_path / "x.yaml",
                       "--defect-type", "crack"), 2, "no real defect of type 'crack'")  # fmt: skip


def test_space_lists_what_fit_searches():
    r = run("recipes", "space", "draem")
    assert r.exit_code == 0 and "texture.beta" in r.output and "[0, 1]" in r.output
    one_line_error(run("recipes", "space", "nope"), 2, "unknown recipe 'nope'")

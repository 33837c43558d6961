"""Recipes (presets, YAML, validation) and the generation engine (determinism, resume, provenance)."""

from __future__ import annotations

import h5py
import hdf5plugin  # noqa: F401
import numpy as np
import pytest

from adsynth.data import DatasetReader
from adsynth.data.samples import write_sample_dataset
from adsynth.data.writer import partial_path
from adsynth.errors import ConfigError, OutputExistsError
from adsynth.synth import GENERATORS, load_generators
from adsynth.synth.engine import generate_dataset
from adsynth.synth.recipes import RECIPES, list_recipes, load_recipe

PRESETS = [
    "noise",
    "erasure",
    "grid",
    "stripes",
    "cutpaste",
    "cutpaste-scar",
    "cutpaste-3way",
    "poisson",
    "draem",
    "memseg",
    "ognet",
    "superpixel",
    "mixed",
]


@pytest.fixture(scope="module")
def normals(tmp_path_factory):
    p = tmp_path_factory.mktemp("src") / "normal.h5"
    return write_sample_dataset(p, "brick", n=6, size=48, seed=0)


def test_every_preset_is_registered_and_builds():
    load_generators()
    assert set(PRESETS) <= set(RECIPES)
    rows = {r["name"]: r for r in list_recipes()}
    for name in PRESETS:
        rec = load_recipe(name)
        assert all(g.name in GENERATORS for g in rec.generators)
        assert rows[name]["description"] and rows[name]["family"]


def test_unknown_names_list_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="cutpaste-scar"):
        load_recipe("cutpaste-scr")
    y = tmp_path / "r.yaml"
    y.write_text("generators:\n  - name: cutpaste\n    params: {bogus: 3}\n")
    with pytest.raises(ConfigError, match="bogus.*valid"):
        load_recipe(y)
    y.write_text("generators:\n  - name: nope\n")
    with pytest.raises(ConfigError, match="unknown generator 'nope'"):
        load_recipe(y)
    y.write_text("normal_fraction: 1.5\ngenerators:\n  - name: cutpaste\n")
    with pytest.raises(ConfigError, match="normal_fraction"):
        load_recipe(y)
    y.write_text("generators: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_recipe(y)
    with pytest.raises(ConfigError, match="not found"):
        load_recipe(tmp_path / "missing.yaml")


def test_yaml_recipe_weights_and_normal_fraction(tmp_path):
    y = tmp_path / "line.yaml"
    y.write_text(
        "normal_fraction: 0.25\n"
        "generators:\n"
        "  - {name: cutpaste, weight: 3}\n"
        "  - {name: cutpaste-scar, weight: 1}\n"
    )
    rec = load_recipe(y)
    assert rec.name == "line"
    img = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    kinds = []
    for s in range(400):
        res = rec.apply(img, np.random.default_rng([1, s]))
        kinds.append(rec.defect_type(res))
        if res.label == 0:
            assert not res.mask.any() and np.array_equal(res.image, img)
    n = np.array([kinds.count(k) for k in ("good", "cutpaste", "cutpaste-scar")]) / len(kinds)
    np.testing.assert_allclose(n, [0.25, 0.5625, 0.1875], atol=0.07)


def test_same_seed_same_bytes_whatever_the_workers(tmp_path, normals):
    a = generate_dataset("mixed", tmp_path / "a.h5", input=normals, per_image=3, seed=5, workers=1)
    b = generate_dataset("mixed", tmp_path / "b.h5", input=normals, per_image=3, seed=5, workers=2)
    c = generate_dataset("mixed", tmp_path / "c.h5", input=normals, per_image=3, seed=6, workers=1)
    assert a.n_written == b.n_written == 18
    with h5py.File(a.path) as fa, h5py.File(b.path) as fb, h5py.File(c.path) as fc:
        for k in ("images", "masks", "labels", "defect_type", "names", "provenance"):
            assert np.array_equal(fa[k][()], fb[k][()]), k
        assert not np.array_equal(fa["images"][()], fc["images"][()])


def test_same_seed_same_file_bytes_with_source_date_epoch(tmp_path, normals, monkeypatch):
    """With SOURCE_DATE_EPOCH fixed, two identical runs (also with other worker counts) write identical
    files; without it, only the ``created`` header attribute differs."""
    import hashlib

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    a = generate_dataset("mixed", tmp_path / "a.h5", input=normals, per_image=2, seed=5, workers=1)
    b = generate_dataset("mixed", tmp_path / "b.h5", input=normals, per_image=2, seed=5, workers=2)
    digest = [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (a.path, b.path)]
    assert digest[0] == digest[1]
    with h5py.File(a.path) as f:
        assert f.attrs["created"] == "2023-11-14T22:13:20+00:00"


def test_provenance_and_defect_types(tmp_path, normals):
    s = generate_dataset("cutpaste-scar", tmp_path / "g.h5", input=normals, per_image=2, seed=1, split="test")
    ds = DatasetReader(s.path)
    assert set(ds.defect_types) == {"cutpaste-scar"} and set(ds.splits) == {"test"}
    p = ds.provenance(3)
    assert p["recipe"] == "cutpaste-scar" and p["generator"] == "cutpaste-scar"
    assert p["source"] == DatasetReader(normals).names[1] and p["sample_index"] == 3 and p["seed"] == 1
    assert isinstance(p["params"], dict) and p["params"]
    assert ds.settings["recipe"]["generators"][0]["name"] == "cutpaste-scar"
    for i in range(len(ds)):
        assert ds[i]["mask"].any() and ds[i]["label"] == 1


def test_resume_equals_uninterrupted(tmp_path, normals):
    full = generate_dataset("cutpaste", tmp_path / "full.h5", input=normals, per_image=20, seed=2)
    out = tmp_path / "part.h5"

    def stop(done):
        if done == 70:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_dataset("cutpaste", out, input=normals, per_image=20, seed=2, progress=stop)
    assert not out.exists() and partial_path(out).exists()
    s = generate_dataset("cutpaste", out, input=normals, per_image=20, seed=2, resume=True)
    assert s.resumed_from >= 64 and s.n_written == full.n_written == 120
    with h5py.File(full.path) as fa, h5py.File(out) as fb:
        for k in ("images", "masks", "names", "provenance"):
            assert np.array_equal(fa[k][()], fb[k][()]), k


def test_inputs_bundled_and_folder(tmp_path, write_png):
    s = generate_dataset("cutpaste", tmp_path / "b.h5", input=None, per_image=1, size=64, limit=4)
    assert s.n_written == 4 and DatasetReader(s.path).shape == (64, 64, 1)
    d = tmp_path / "photos"
    from adsynth.data.samples import sample_images

    for name, img in sample_images("coffee", n=3, size=40):
        write_png(d / name, img)
    s = generate_dataset("noise", tmp_path / "f.h5", input=d, per_image=2)
    assert s.n_written == 6 and DatasetReader(s.path).shape == (40, 40, 3)
    with pytest.raises(OutputExistsError):
        generate_dataset("noise", tmp_path / "f.h5", input=d)


def test_cli_generate_and_recipes(tmp_path, normals):
    from click.testing import CliRunner

    from adsynth.cli.main import cli

    r = CliRunner().invoke(cli, ["recipes"])
    assert r.exit_code == 0 and all(f"| {p} |" in r.output for p in PRESETS)
    out = tmp_path / "g.h5"
    r = CliRunner().invoke(
        cli,
        [
            "generate",
            "--recipe",
            "grid",
            "--input",
            str(normals),
            "--out",
            str(out),
            "--per-image",
            "2",
            "--workers",
            "2",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "12 samples" in r.output
    r = CliRunner().invoke(
        cli, ["generate", "--recipe", "gird", "--input", str(normals), "--out", str(tmp_path / "x.h5")]
    )
    assert r.exit_code == 2 and "grid" in r.output and "Traceback" not in r.output


def test_documented_yaml_recipe_loads(tmp_path):
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "RECIPES.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    p = tmp_path / "my_line.yaml"
    p.write_text(block)
    rec = load_recipe(p)
    assert rec.name == "my_line" and rec.normal_fraction == 0.2
    assert [g.name for g in rec.generators] == ["cutpaste-scar", "texture", "poisson"]


def test_a_killed_runs_scratch_folder_is_removed_by_the_next_run(tmp_path, normals):
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / "adsynth-gen-stale"
    stale.mkdir()
    (stale / ".owner-pid").write_text(dead.stdout.strip())  # that process has exited
    foreign = tmp_path / "adsynth-gen-foreign"  # no owner file: not ours, left alone
    foreign.mkdir()
    generate_dataset("mixed", tmp_path / "a.h5", input=normals, per_image=1, seed=0)
    assert not stale.exists() and foreign.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "adsynth-gen-foreign"]

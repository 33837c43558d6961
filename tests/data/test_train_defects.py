"""A few real defects in the training split: the seeded selection, ``split_defects``, the import and CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from adsynth.cli.main import cli
from adsynth.data import DatasetReader, DatasetWriter
from adsynth.data.fewshot import select_train_defects, split_defects
from adsynth.data.importers import import_dataset
from adsynth.data.writer import partial_path
from adsynth.errors import ConfigError, OutputExistsError

PER_TYPE = {"crack": 12, "hole": 9, "oil": 7}


def names_by_type(per_type=PER_TYPE):
    return {t: [f"test/{t}/{i:03d}.png" for i in range(n)] for t, n in per_type.items()}


def make_dataset(path, per_type=PER_TYPE, size: int = 8) -> str:
    """Normal train and test images and ``per_type`` defective test images of each type, with masks."""
    rng = np.random.default_rng(0)
    with DatasetWriter(path, height=size, width=size, channels=1, seed=5, settings={"kind": "test"}) as w:
        for i in range(3):
            w.append(rng.integers(0, 255, (size, size, 1), np.uint8), name=f"train/good/{i}.png")
        for i in range(2):
            w.append(rng.integers(0, 255, (size, size, 1), np.uint8), split="test", name=f"test/good/{i}")
        for t, names in names_by_type(per_type).items():
            for n in names:
                mask = (rng.random((size, size)) < 0.3).astype(np.uint8)
                w.append(
                    rng.integers(0, 255, (size, size, 1), np.uint8), mask, label=1, defect_type=t,
                    split="test", name=n, source=f"src/{n}", provenance={"from": n},
                )  # fmt: skip
        w.set_attr("skipped", [["bad.png", "unreadable"]])
    return str(path)


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "d.h5")


def test_selection_is_deterministic_and_never_leaks():
    by_type = names_by_type()
    pool = 3
    for fold in range(2):
        for k in range(pool + 1):
            train, left = select_train_defects(by_type, k, fold=fold, pool=pool, seed=7)
            assert (train, left) == select_train_defects(by_type, k, fold=fold, pool=pool, seed=7)
            for t, names in by_type.items():
                test = set(names) - set(train[t]) - set(left[t])
                assert len(train[t]) == k and len(left[t]) == pool - k
                assert not set(train[t]) & test and not set(train[t]) & set(left[t])
                assert not set(left[t]) & test
                assert set(train[t]) | set(left[t]) | test == set(names)
    # the input order does not matter, the seed does
    shuffled = {t: v[::-1] for t, v in reversed(by_type.items())}
    assert select_train_defects(shuffled, 2, pool=3, seed=7) == select_train_defects(
        by_type, 2, pool=3, seed=7
    )
    assert select_train_defects(by_type, 2, pool=3, seed=8) != select_train_defects(
        by_type, 2, pool=3, seed=7
    )


def test_one_folds_test_set_is_the_same_for_every_k():
    by_type = names_by_type()
    pool = 3
    for fold in range(2):
        tests, trains = set(), []
        for k in range(pool + 1):
            train, left = select_train_defects(by_type, k, fold=fold, pool=pool)
            tests.add(
                frozenset(n for t, v in by_type.items() for n in v if n not in train[t] and n not in left[t])
            )
            trains.append(train)
        assert len(tests) == 1
        # a larger K adds photos to the smaller K's training set
        for a, b in zip(trains, trains[1:], strict=False):
            assert all(set(a[t]) < set(b[t]) for t in by_type)


def test_folds_train_sets_are_disjoint():
    by_type = names_by_type()
    folds = [select_train_defects(by_type, 3, fold=f, pool=3)[0] for f in range(2)]
    for t in by_type:
        assert not set(folds[0][t]) & set(folds[1][t])
    # k = 0 trains on nothing; its pool is still left out
    train, left = select_train_defects(by_type, 0, fold=1, pool=3)
    assert all(v == [] for v in train.values()) and all(len(v) == 3 for v in left.values())


@pytest.mark.parametrize(
    "args, needle",
    [
        (
            {"k": 2, "fold": 1, "pool": 4},
            "defect type 'oil' has 7 defective photos; fold 1 with a pool of 4 needs 8",
        ),
        ({"k": 3, "pool": 2}, "expected `pool` >= `k` (3), got 2"),
        ({"k": -1}, "expected `k` to be an int >= 0, got -1"),
    ],
)
def test_bad_selection_names_the_problem(args, needle):
    with pytest.raises(ConfigError) as e:
        select_train_defects(names_by_type(), **args)
    assert needle in str(e.value)


def test_split_defects_moves_drops_and_records(data, tmp_path):
    out = tmp_path / "k2.h5"
    s = split_defects(data, out, k=2, fold=1, pool=3, seed=4)
    src, ds = DatasetReader(data), DatasetReader(out)
    train, left = select_train_defects(names_by_type(), 2, fold=1, pool=3, seed=4)
    assert s.train == train and s.left_out == left
    moved = {n for v in train.values() for n in v}
    dropped = {n for v in left.values() for n in v}
    assert len(ds) == len(src) - len(dropped) == s.n_written
    assert not dropped & set(ds.names)
    rows = {n: i for i, n in enumerate(src.names)}
    for i, name in enumerate(ds.names):
        j = rows[name]
        item, orig = ds[i], src[j]
        np.testing.assert_array_equal(item["image"], orig["image"])
        np.testing.assert_array_equal(item["mask"], orig["mask"])
        assert (item["label"], item["defect_type"], ds.source(i)) == (
            orig["label"], orig["defect_type"], src.source(j),
        )  # fmt: skip
        prov = ds.provenance(i)
        assert {k: v for k, v in prov.items() if k != "train_defect"} == src.provenance(j)
        if name in moved:
            assert item["split"] == "train" and item["label"] == 1 and prov["train_defect"] is True
        else:
            assert item["split"] == orig["split"] and "train_defect" not in prov
    rec = ds.settings["train_defects"]
    assert (rec["k"], rec["fold"], rec["pool"], rec["seed"]) == (2, 1, 3, 4)
    assert rec["train"] == train and rec["left_out"] == left and rec["source"].endswith("d.h5")
    assert ds.settings["kind"] == "test" and ds.seed == 5
    assert json.loads(ds.attrs["skipped"]) == [["bad.png", "unreadable"]]
    counts = ds.counts()
    assert counts[("train", "crack", 1)] == 2 and counts[("test", "crack", 1)] == 12 - 3
    # the test set is the same as K=0's of the fold
    k0 = DatasetReader(
        split_defects(data, tmp_path / "k0.h5", k=0, fold=1, pool=3, seed=4).path, split="test"
    )
    assert k0.names == DatasetReader(out, split="test").names


def test_split_defects_refusals_leave_nothing(data, tmp_path):
    out = tmp_path / "x.h5"
    with pytest.raises(ConfigError, match="'oil' has 7"):
        split_defects(data, out, k=4, fold=1)
    assert not out.exists() and not partial_path(out).exists()
    split_defects(data, out, k=1)
    with pytest.raises(OutputExistsError):
        split_defects(data, out, k=1)
    with pytest.raises(ConfigError, match="already has defective training samples"):
        split_defects(out, tmp_path / "y.h5", k=1)


def test_an_old_dataset_still_reads(data, tmp_path):
    ds = DatasetReader(data)
    assert "train_defects" not in ds.settings and len(ds) == 3 + 2 + sum(PER_TYPE.values())
    res = CliRunner().invoke(cli, ["dataset", "info", data, "--json"])
    info = json.loads(res.output)
    assert info["train_defects"] == {} and info["train_defects_selection"] is None
    res = CliRunner().invoke(cli, ["dataset", "info", data])
    assert res.exit_code == 0 and "defective training" not in res.output


@pytest.fixture
def mvtec(tmp_path, write_png):
    """An MVTec AD category with 4 crack and 5 hole photos."""
    root = tmp_path / "cat"
    rng = np.random.default_rng(1)
    for i in range(3):
        write_png(root / "train" / "good" / f"{i:03d}.png", rng.integers(0, 255, (16, 16), np.uint8))
    write_png(root / "test" / "good" / "000.png", rng.integers(0, 255, (16, 16), np.uint8))
    for t, n in (("crack", 4), ("hole", 5)):
        for i in range(n):
            write_png(root / "test" / t / f"{i:03d}.png", rng.integers(0, 255, (16, 16), np.uint8))
            m = np.zeros((16, 16), np.uint8)
            m[2 + i : 8 + i, 3:9] = 255
            write_png(root / "ground_truth" / t / f"{i:03d}_mask.png", m)
    return root


def test_cli_import_and_split_defects_agree(mvtec, tmp_path):
    r = CliRunner()
    direct = tmp_path / "direct.h5"
    args = ["--train-defects", "1", "--defect-fold", "1", "--defect-pool", "2", "--seed", "3"]
    res = r.invoke(cli, ["dataset", "import", "--input", str(mvtec), "--out", str(direct), *args])
    assert res.exit_code == 0, res.output
    assert (
        "defective training photos (K=1, fold 1, pool 2, seed 3): crack 1, hole 1; 2 left out" in res.output
    )
    plain = tmp_path / "plain.h5"
    assert r.invoke(cli, ["dataset", "import", "--input", str(mvtec), "--out", str(plain)]).exit_code == 0
    split = tmp_path / "split.h5"
    res = r.invoke(cli, ["dataset", "split-defects", "--data", str(plain), "--out", str(split), *args])
    assert res.exit_code == 0, res.output
    a, b = DatasetReader(direct), DatasetReader(split)
    assert a.names == b.names and a.splits == b.splits and list(a.labels) == list(b.labels)
    ra, rb = a.settings["train_defects"], b.settings["train_defects"]
    assert {k: v for k, v in ra.items() if k != "source"} == {k: v for k, v in rb.items() if k != "source"}
    moved = [i for i, (sp, lab) in enumerate(zip(a.splits, a.labels, strict=True)) if sp == "train" and lab]
    assert len(moved) == 2 and all(a.provenance(i)["train_defect"] for i in moved)
    assert all(a[i]["mask"].any() for i in moved)
    res = r.invoke(cli, ["dataset", "info", str(direct)])
    assert "defective training samples: crack 1, hole 1" in res.output
    assert "| train | crack | 1 | 1 |" in res.output and "pool 2" in res.output


def test_cli_one_line_errors(mvtec, tmp_path, write_png):
    r = CliRunner()
    res = r.invoke(
        cli,
        ["dataset", "import", "--input", str(mvtec), "--out", str(tmp_path / "a.h5"), "--train-defects", "5"],
    )
    assert res.exit_code == 2 and res.output.count("\n") == 1
    assert "defect type 'crack' has 4 defective photos" in res.output
    assert not (tmp_path / "a.h5").exists()
    folder = tmp_path / "photos"
    write_png(folder / "a.png", np.zeros((16, 16), np.uint8))
    res = r.invoke(
        cli,
        [
            "dataset",
            "import",
            "--input",
            str(folder),
            "--out",
            str(tmp_path / "b.h5"),
            "--train-defects",
            "1",
        ],
    )
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "MVTec AD layout" in res.output
    res = r.invoke(
        cli,
        ["dataset", "import", "--input", str(mvtec), "--out", str(tmp_path / "c.h5"), "--defect-fold", "1"],
    )
    assert res.exit_code == 2 and "--train-defects" in res.output
    plain = tmp_path / "plain.h5"
    assert r.invoke(cli, ["dataset", "import", "--input", str(mvtec), "--out", str(plain)]).exit_code == 0
    res = r.invoke(
        cli,
        [
            "dataset",
            "split-defects",
            "--data",
            str(plain),
            "--out",
            str(tmp_path / "d.h5"),
            "--train-defects",
            "5",
        ],
    )
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "'crack' has 4" in res.output
    res = r.invoke(
        cli, ["dataset", "split-defects", "--data", str(tmp_path / "nope.h5"),
              "--out", str(tmp_path / "e.h5"), "--train-defects", "1"],
    )  # fmt: skip
    assert res.exit_code == 1 and res.output.count("\n") == 1 and "nope.h5" in res.output


def test_colour_dropped_and_extreme_stretch_are_warned(tmp_path, write_png):
    folder = tmp_path / "photos"
    rng = np.random.default_rng(0)
    write_png(folder / "gray.png", rng.integers(0, 255, (20, 20), np.uint8))
    write_png(folder / "colour.png", rng.integers(0, 255, (20, 20, 3), np.uint8))
    write_png(folder / "strip.png", rng.integers(0, 255, (5, 400), np.uint8))
    write_png(folder / "wide.png", rng.integers(0, 255, (20, 60), np.uint8))  # 3:1, not extreme
    s = import_dataset(folder, tmp_path / "a.h5", size=16, color="gray")
    why = dict(s.warnings)
    assert set(why) == {"colour.png", "strip.png"}
    assert "colour photo converted to gray" in why["colour.png"]
    assert "stretched from 5×400 to 16×16" in why["strip.png"]
    # pad keeps the aspect ratio (no stretch warning); rgb keeps the colour
    assert import_dataset(folder, tmp_path / "b.h5", size=16, color="rgb", resize="pad").warnings == []
    res = CliRunner().invoke(
        cli, ["dataset", "import", "--input", str(folder), "--out", str(tmp_path / "c.h5"), "--size", "16",
              "--color", "gray"],
    )  # fmt: skip
    assert res.exit_code == 0 and "warning: 2 image(s)" in res.output and "strip.png: stretched" in res.output
    assert cv2.imread(str(folder / "strip.png")).shape[:2] == (5, 400)

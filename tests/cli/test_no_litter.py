"""A failed command leaves nothing behind but what --resume needs (the run or report folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from adsynth.cli.main import cli


@pytest.fixture
def tiny(noise_dataset):
    return noise_dataset


@pytest.fixture
def test_only(tmp_path):
    from adsynth.data import DatasetWriter

    path = tmp_path / "test_only.h5"
    with DatasetWriter(path, height=32, width=32, channels=3, seed=0) as w:
        w.append(np.zeros((32, 32, 3), np.uint8), split="test", name="test/0.png")
    return path


def _train(*extra):
    return ["train", "--device", "cpu", "--workers", "0", "--image-size", "32", "--epochs", "1", *extra]


def test_failed_train_leaves_no_run_folder(tiny, test_only, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    cases = {
        "no normal images": ["--model", "ae", "--data", str(test_only)],
        "bad --backbone-from": ["--model", "padim", "--data", str(tiny), "--backbone-from", str(bad)],
        "bad --weights": ["--model", "padim", "--data", str(tiny), "--weights", str(bad)],
    }
    runner = CliRunner()
    for i, (why, args) in enumerate(cases.items()):
        out = tmp_path / f"run{i}"
        r = runner.invoke(cli, _train("--out", str(out), *args))
        assert r.exit_code != 0, (why, r.output)
        assert "Traceback" not in r.output and r.output.count("\n") == 1, (why, r.output)
        assert not out.exists(), (why, sorted(p.name for p in out.iterdir()))
    # An empty folder the user made stays, empty.
    mine = tmp_path / "mine"
    mine.mkdir()
    r = runner.invoke(cli, _train("--out", str(mine), *cases["no normal images"]))
    assert r.exit_code != 0 and mine.is_dir() and not any(mine.iterdir())


def test_interrupt_in_the_first_epoch_keeps_nothing_and_later_keeps_the_checkpoint(
    tiny, tmp_path, monkeypatch
):
    from adsynth.zoo.training import loop

    real = loop.GradientLoop.run_epoch
    calls = {"n": 0, "stop_at": 0}

    def interrupted(self, epoch):
        calls["n"] += 1
        if calls["n"] > calls["stop_at"]:
            raise KeyboardInterrupt
        return real(self, epoch)

    monkeypatch.setattr(loop.GradientLoop, "run_epoch", interrupted)
    runner = CliRunner()
    out = tmp_path / "run"
    args = _train("--model", "ae", "--data", str(tiny), "--out", str(out), "--set", "latent_dim=8")
    args[args.index("--epochs") + 1] = "3"
    r = runner.invoke(cli, args)
    assert r.exit_code == 1 and "nothing was kept" in r.output and not out.exists()

    calls.update(n=0, stop_at=1)  # the second epoch is interrupted: epoch 1 stays for --resume
    r = runner.invoke(cli, args)
    assert r.exit_code == 1 and "--resume" in r.output, r.output
    assert (out / "last.pt").is_file() and (out / "model.pt").is_file()


def test_failed_eval_with_a_checkpoint_leaves_no_report_folder(tiny, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "report"
    r = CliRunner().invoke(cli, ["eval", "--checkpoint", str(bad), "--data", str(tiny), "--out", str(out)])
    assert r.exit_code != 0 and "bad.pt" in r.output and "Traceback" not in r.output, r.output
    assert not out.exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_failed_generate_leaves_no_partial_file(tiny, tmp_path, workers):
    """A recipe naming a bad checkpoint, or any failure after the partial file was made, leaves nothing
    (issue 28, item 9); a failure while resuming keeps the partial file it continues."""
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\ngenerators:\n  - name: ognet\n    params: {{checkpoint: {bad}}}\n")
    out = tmp_path / "g.h5"
    args = ["generate", "--recipe", str(recipe), "--input", str(tiny), "--out", str(out)]
    args += ["--workers", workers]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1 and r.output.count("\n") == 1 and str(bad) in r.output, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([bad.name, recipe.name, tiny.name])


def test_failed_resumed_generate_keeps_the_partial_file(tiny, tmp_path, monkeypatch):
    from adsynth.data.writer import partial_path
    from adsynth.errors import DataError
    from adsynth.synth import engine

    out = tmp_path / "g.h5"

    def stop(done):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.generate_dataset("cutpaste", out, input=tiny, progress=stop)
    assert partial_path(out).exists()

    def fail(s):
        raise DataError("generator failed")

    monkeypatch.setattr(engine, "_make_sample", fail)
    with pytest.raises(DataError):
        engine.generate_dataset("cutpaste", out, input=tiny, resume=True)
    assert partial_path(out).exists() and not out.exists()
    with pytest.raises(DataError):
        engine.generate_dataset("cutpaste", out, input=tiny, overwrite=True)
    assert not partial_path(out).exists() and not out.exists()

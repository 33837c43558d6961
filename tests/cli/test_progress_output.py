"""Progress when the output is not a terminal: lines per epoch on a pipe, JSON lines, --quiet."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from adsynth.progress import Progress, format_seconds


@pytest.fixture
def tiny(tmp_path):
    from conftest import write_noise_dataset

    return write_noise_dataset(tmp_path / "tiny.h5", channels=1)


def _adsynth(*args, cwd):
    # One thread: with pytest-xdist another worker shares the cores (OpenMP pools would fight).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "adsynth", *args],
        capture_output=True,  # pipes: neither stream is a terminal
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def _train_args(tiny, out):
    return [
        "train", "--model", "ae", "--data", str(tiny), "--out", str(out), "--epochs", "2",
        "--batch-size", "2", "--image-size", "32", "--device", "cpu", "--workers", "0",
        "--set", "latent_dim=8",
    ]  # fmt: skip


def test_train_on_a_pipe_writes_one_line_per_epoch(tiny, tmp_path):
    r = _adsynth(*_train_args(tiny, tmp_path / "run"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    epoch_lines = [ln for ln in lines if ln.startswith("epoch ")]
    assert [ln.split(":")[0] for ln in epoch_lines] == ["epoch 1/2", "epoch 2/2"], r.stderr
    for ln in epoch_lines:
        assert "3/3 batch" in ln and "img/s" in ln and "took" in ln and "loss" in ln, ln
    assert "\r" not in r.stderr  # no bar redraws in a log file
    assert "trained for 2 epochs" in r.stdout


def test_train_log_json_and_quiet(tiny, tmp_path):
    from click.testing import CliRunner

    from adsynth.cli.main import cli

    runner = CliRunner()  # stdout and stderr apart (click >= 8.2), neither a terminal
    r = runner.invoke(cli, [*_train_args(tiny, tmp_path / "run"), "--log-json"])
    assert r.exit_code == 0, r.output
    events = [json.loads(ln) for ln in r.stderr.strip().splitlines()]
    ends = [e for e in events if e["event"] == "end"]
    assert [e["task"] for e in ends] == ["epoch 1/2", "epoch 2/2"]
    assert all(e["done"] == e["total"] == 3 and e["img_per_s"] > 0 and "loss" in e for e in ends)
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["event"] == "result" and result["epochs"] == 2 and result["checkpoint"].endswith("model.pt")

    r = runner.invoke(cli, [*_train_args(tiny, tmp_path / "run2"), "--quiet"])
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""
    assert (tmp_path / "run2" / "model.pt").is_file()

    r = runner.invoke(cli, [*_train_args(tiny, tmp_path / "run3"), "--quiet", "--log-json"])
    assert r.exit_code == 2 and "exclude each other" in r.stderr


def test_predict_log_json(tiny, tmp_path):
    from click.testing import CliRunner

    from adsynth.cli.main import cli

    runner = CliRunner()
    assert runner.invoke(cli, [*_train_args(tiny, tmp_path / "run"), "--quiet"]).exit_code == 0
    args = ["predict", "--checkpoint", str(tmp_path / "run" / "model.pt"), "--data", str(tiny)]
    r = runner.invoke(cli, [*args, "--out", str(tmp_path / "maps.h5"), "--device", "cpu", "--log-json"])
    assert r.exit_code == 0, r.output
    (end,) = [json.loads(ln) for ln in r.stderr.strip().splitlines()]
    assert end["event"] == "end" and end["task"] == "predict" and end["done"] == 2
    assert json.loads(r.stdout)["n"] == 2


def test_calibrate_shows_progress(tiny, tmp_path):
    """calibrate scores a whole split before it prints anything: progress on stderr (issue 28, item 6)."""
    from click.testing import CliRunner

    from adsynth.cli.main import cli

    runner = CliRunner()
    assert runner.invoke(cli, [*_train_args(tiny, tmp_path / "run"), "--quiet"]).exit_code == 0
    args = ["calibrate", "--checkpoint", str(tmp_path / "run" / "model.pt"), "--data", str(tiny)]
    args += ["--split", "train", "--fpr", "0.2", "--device", "cpu"]
    r = runner.invoke(cli, args)  # stderr is not a terminal: lines
    assert r.exit_code == 0, r.output
    assert r.stderr.startswith("calibrate: 6 img") and "took" in r.stderr, r.stderr
    assert r.stdout.startswith("thresholds (fpr"), r.stdout
    r = runner.invoke(cli, [*args, "--log-json"])
    assert r.exit_code == 0, r.output
    (end,) = [json.loads(ln) for ln in r.stderr.strip().splitlines()]
    assert end["event"] == "end" and end["task"] == "calibrate" and end["done"] == 6
    result = json.loads(r.stdout)
    assert result["command"] == "calibrate" and result["thresholds"]["n_normal"] == 6
    r = runner.invoke(cli, [*args, "--quiet"])
    assert r.exit_code == 0 and r.stdout == "" and r.stderr == ""


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_lines_at_most_every_interval_within_a_loop():
    clock, out = FakeClock(), io.StringIO()
    p = Progress(100, "fit", mode="auto", stream=out, interval=30.0, clock=clock)
    assert p.mode == "lines"  # a StringIO is not a terminal
    for _ in range(100):
        clock.t += 1.0  # one step per second: lines at 30, 60, 90 s, then the end line
        p.update(1, items=4)
    p.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0] == "fit: 30/100 batch, 4.0 img/s, ETA 1m10s"
    assert lines[-1] == "fit: 100/100 batch, 4.0 img/s, took 1m40s"


def test_json_quiet_and_unknown_total():
    clock, out = FakeClock(), io.StringIO()
    with Progress(None, "predict", mode="json", stream=out, unit="img", item="img", clock=clock) as p:
        clock.t = 2.0
        p.set_done(10)
    (event,) = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert event == {
        "event": "end", "task": "predict", "done": 10, "total": None, "elapsed_s": 2.0,
        "img_per_s": 5.0, "eta_s": None,
    }  # fmt: skip
    quiet = io.StringIO()
    with Progress(5, "x", mode="quiet", stream=quiet) as p:
        p.update(5)
    assert quiet.getvalue() == ""
    with pytest.raises(ValueError, match="progress mode"):
        Progress(1, "x", mode="loud")
    assert format_seconds(75) == "1m15s" and format_seconds(4000) == "1h06m"


def test_a_failed_loop_writes_no_end_line():
    out = io.StringIO()
    with pytest.raises(RuntimeError), Progress(3, "epoch 1/1", mode="lines", stream=out):
        raise RuntimeError("boom")
    assert out.getvalue() == ""

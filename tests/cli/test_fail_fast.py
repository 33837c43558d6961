"""``train`` refuses an unknown model name and an existing run before importing torch (issue 28, item 7)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Runs the CLI, then reports on its last line whether torch was imported.
CODE = """
import sys
from adsynth.cli.main import main
try:
    main(sys.argv[1:])
finally:
    print("torch imported:", "torch" in sys.modules, file=sys.stderr)
"""


def _run(*args):
    return subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case", ["unknown model", "existing run", "resume without last.pt"])
def test_train_refuses_before_importing_torch(case, noise_dataset, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.pt").write_bytes(b"a finished run")
    args = {
        "unknown model": ["--model", "nope", "--out", str(tmp_path / "new")],
        "existing run": ["--model", "ae", "--out", str(run)],
        "resume without last.pt": ["--out", str(run), "--resume"],
    }[case]
    r = _run("train", "--data", str(noise_dataset), *args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 2, r.stderr
    assert lines[-1] == "torch imported: False", r.stderr
    expected = {"unknown model": "unknown model 'nope'", "existing run": "model.pt exists"}
    assert expected.get(case, "cannot resume") in lines[0], lines[0]
    assert not (tmp_path / "new").exists()

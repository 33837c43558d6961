"""A full disk: one line naming the output, exit 1, nothing left behind, and the next run unaffected.

Simulated in-process (the write raises ``OSError(ENOSPC)``, as h5py, torch and Python do), and for real
on a small tmpfs where an unprivileged user namespace can mount one (HDF5 used to crash with SIGSEGV).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from adsynth.cli.main import cli
from adsynth.data import DatasetReader
from adsynth.data.maps import write_maps

FULL = "no space left on device while writing"


def _enospc():
    return OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def full_after(monkeypatch):
    """``full_after(n)``: h5py dataset writes fail with ENOSPC after ``n`` succeeded."""

    def arm(n: int) -> None:
        real = h5py.Dataset.__setitem__
        calls = {"n": 0}

        def write(self, key, value):
            calls["n"] += 1
            if calls["n"] > n:
                raise _enospc()
            return real(self, key, value)

        monkeypatch.setattr(h5py.Dataset, "__setitem__", write)

    return arm


def _one_line_exit_1(r, path) -> None:
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and r.output.count("Error:") == 1, r.output
    assert r.output.splitlines()[-1] == f"Error: {FULL} {path}", r.output


def _left(folder: Path, *keep: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p not in keep)


def test_generate_on_a_full_disk(tmp_path, full_after, monkeypatch):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "gen.h5"
    args = ["generate", "--recipe", "cutpaste-scar", "--size", "32", "--limit", "4", "-q", "--out", str(out)]
    full_after(12)  # the scratch copy of the bundled samples is written, the output is not
    _one_line_exit_1(CliRunner().invoke(cli, args), out)
    assert _left(out_dir) == []
    monkeypatch.undo()
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0 and len(DatasetReader(out)) == 4, r.output


def test_import_on_a_full_disk(tmp_path, mvtec_dir, full_after):
    out = tmp_path / "imp.h5"
    full_after(3)
    r = CliRunner().invoke(cli, ["dataset", "import", "--input", str(mvtec_dir), "--out", str(out)])
    _one_line_exit_1(r, out)
    assert _left(tmp_path, mvtec_dir) == []


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from conftest import write_noise_dataset

    root = tmp_path_factory.mktemp("ckpt")
    data = write_noise_dataset(root / "noise.h5")
    run = root / "run"
    r = CliRunner().invoke(cli, [*_train(data, run), "--epochs", "1"])
    assert r.exit_code == 0, r.output
    return data, run / "model.pt"


def _train(data, out):
    return ["train", "--model", "ae", "--data", str(data), "--out", str(out), "--image-size", "32",
            "--device", "cpu", "--workers", "0", "--set", "latent_dim=8"]  # fmt: skip


def test_train_on_a_full_disk(tmp_path, checkpoint, monkeypatch):
    import torch

    data, _ = checkpoint
    real = torch.save

    def save(obj, f, *a, **kw):
        f.write(b"PK\x03\x04")
        raise _enospc()

    monkeypatch.setattr(torch, "save", save)
    run = tmp_path / "run"
    r = CliRunner().invoke(cli, [*_train(data, run), "--epochs", "1"])
    _one_line_exit_1(r, run / "last.pt")
    assert not run.exists()
    monkeypatch.setattr(torch, "save", real)
    assert CliRunner().invoke(cli, [*_train(data, run), "--epochs", "1"]).exit_code == 0


def test_predict_maps_on_a_full_disk(tmp_path, checkpoint, full_after):
    data, model = checkpoint
    out = tmp_path / "maps.h5"
    full_after(1)
    args = ["predict", "--checkpoint", str(model), "--data", str(data), "--out", str(out), "--device", "cpu"]
    _one_line_exit_1(CliRunner().invoke(cli, args), out)
    assert _left(tmp_path) == []


def test_eval_report_on_a_full_disk(tmp_path, tiny_dataset, monkeypatch):
    ds = DatasetReader(tiny_dataset, split="test")
    maps = tmp_path / "maps.h5"
    write_maps(maps, np.zeros((len(ds), 32, 32)), np.full(len(ds), np.nan), ds.names, ds.indices)
    real = Path.write_bytes

    def write_bytes(self, data):
        if self.name.startswith(".roc.png"):
            raise _enospc()
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    out = tmp_path / "report"
    r = CliRunner().invoke(cli, ["eval", "--maps", str(maps), "--data", str(tiny_dataset), "--out", str(out)])
    _one_line_exit_1(r, out / "roc.png")
    assert not out.exists()


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare") or sys.platform != "linux":
        return False
    probe = "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d && umount $d; rmdir $d"
    try:
        p = subprocess.run(["unshare", "-rm", "sh", "-c", probe], capture_output=True, timeout=30)
        return p.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="no unprivileged tmpfs (user namespaces) here")
def test_real_full_tmpfs(tmp_path, mvtec_dir):
    """``generate`` and ``dataset import`` onto a 300 KB tmpfs, twice each, in a private mount namespace."""
    fs = tmp_path / "fs"
    fs.mkdir()
    adsynth = f"{sys.executable} -c 'from adsynth.cli.main import main; main()'"
    script = f"""
mount -t tmpfs -o size=300k tmpfs {fs} || exit 99
for i in 1 2; do
  {adsynth} generate --recipe cutpaste-scar --out {fs}/gen.h5 -q; echo "rc=$?"; ls -A {fs}
  {adsynth} dataset import --input {mvtec_dir} --out {fs}/imp.h5 --size 128; echo "rc=$?"; ls -A {fs}
done
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run(["unshare", "-rm", "bash", "-c", script], capture_output=True, text=True, env=env,
                       timeout=600)  # fmt: skip
    lines = (p.stdout + p.stderr).splitlines()
    errors = [x for x in lines if x.startswith("Error:")]
    assert p.stdout.count("rc=1") == 4 and "rc=139" not in p.stdout, p.stdout + p.stderr
    assert sorted(errors) == sorted(2 * [f"Error: {FULL} {fs}/gen.h5", f"Error: {FULL} {fs}/imp.h5"]), lines
    assert "Traceback" not in p.stderr and len(lines) == 8, lines  # 4 errors, 4 "rc=1", empty listings

"""Operating-system errors reach the user as one line and exit 1: a read-only output folder, an output
another process is writing, pickled ``.npy`` maps."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from adsynth.cli.main import cli
from adsynth.data import DatasetReader

WRITER = """
import sys
import numpy as np
from adsynth.data import DatasetWriter
w = DatasetWriter(sys.argv[1], height=32, width=32, channels=1, buffer_rows=1)
w.append(np.zeros((32, 32, 1), np.uint8), name="a")
print("ready", flush=True)
sys.stdin.read()
w.close()
"""


def test_generate_to_an_output_another_process_writes(tmp_path):
    out = tmp_path / "gen.h5"
    other = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert other.stdout.readline().strip() == "ready"
        args = [
            "generate",
            "--recipe",
            "cutpaste-scar",
            "--size",
            "32",
            "--limit",
            "2",
            "-q",
            "--out",
            str(out),
        ]
        r = CliRunner().invoke(cli, args)
        assert r.exit_code == 1 and r.output == f"Error: another process is writing {out}\n", r.output
    finally:
        other.communicate("", timeout=60)
    assert other.returncode == 0 and DatasetReader(out).names == ["a"]  # the other run's file is intact


def test_pickled_npy_maps_are_refused_in_one_line(tmp_path, tiny_dataset):
    ds = DatasetReader(tiny_dataset, split="test")
    folder = tmp_path / "maps"
    folder.mkdir()
    for name in ds.names:
        np.save(
            folder / f"{os.path.splitext(name)[0]}.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True
        )
    r = CliRunner().invoke(
        cli, ["eval", "--maps", str(folder), "--data", str(tiny_dataset), "--out", str(tmp_path / "r")]
    )
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "Traceback" not in r.output, r.output
    assert str(folder) in r.output and "pickle" in r.output, r.output


READ_ONLY = {
    "dataset import": lambda d, ro: ["dataset", "import", "--input", str(d["mvtec"]), "--out", f"{ro}/i.h5"],
    "generate": lambda d, ro: ["generate", "--recipe", "cutpaste-scar", "--size", "32", "--limit", "2", "-q",
                               "--out", f"{ro}/g.h5"],
    "eval": lambda d, ro: ["eval", "--data", str(d["data"]), "--maps", str(d["maps"]),
                           "--out", f"{ro}/report"],
    "train": lambda d, ro: ["train", "--model", "ae", "--data", str(d["noise"]), "--out", f"{ro}/run",
                            "--epochs", "1", "--image-size", "32", "--device", "cpu"],
    "dataset preview": lambda d, ro: ["dataset", "preview", str(d["data"]), "--out", f"{ro}/p.png"],
}  # fmt: skip


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
@pytest.mark.parametrize("command", sorted(READ_ONLY))
def test_read_only_output_folder(command, tmp_path, mvtec_dir, tiny_dataset, noise_dataset):
    from adsynth.data.maps import write_maps

    ds = DatasetReader(tiny_dataset, split="test")
    maps = tmp_path / "maps.h5"
    write_maps(maps, np.zeros((len(ds), 32, 32)), np.full(len(ds), np.nan), ds.names, ds.indices)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    d = {"mvtec": mvtec_dir, "data": tiny_dataset, "maps": maps, "noise": noise_dataset}
    try:
        r = CliRunner().invoke(cli, READ_ONLY[command](d, ro))
    finally:
        ro.chmod(0o755)
    assert r.exit_code == 1, r.output
    assert "Traceback" not in r.output and r.output.count("Error:") == 1, r.output
    assert r.output.splitlines()[-1].startswith("Error: ") and str(ro) in r.output, r.output
    assert list(ro.iterdir()) == []


def _can_bind_read_only(folder) -> bool:
    import shutil

    if not shutil.which("unshare") or sys.platform != "linux":
        return False
    probe = f"mount --bind {folder} {folder} && mount -o remount,ro,bind {folder}"
    try:
        return (
            subprocess.run(["unshare", "-rm", "sh", "-c", probe], capture_output=True, timeout=30).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_read_only_mount(tmp_path, mvtec_dir, tiny_dataset, noise_dataset):
    """The same commands onto a read-only file system (a bind mount in a user namespace: root too)."""
    import shlex

    from adsynth.data.maps import write_maps

    ro = tmp_path / "ro"
    ro.mkdir()
    if not _can_bind_read_only(ro):
        pytest.skip("no unprivileged read-only bind mount (user namespaces) here")
    ds = DatasetReader(tiny_dataset, split="test")
    maps = tmp_path / "maps.h5"
    write_maps(maps, np.zeros((len(ds), 32, 32)), np.full(len(ds), np.nan), ds.names, ds.indices)
    d = {"mvtec": mvtec_dir, "data": tiny_dataset, "maps": maps, "noise": noise_dataset}
    adsynth = f"{shlex.quote(sys.executable)} -c 'from adsynth.cli.main import main; main()'"
    runs = "\n".join(f"{adsynth} {shlex.join(READ_ONLY[c](d, ro))}; echo rc=$?" for c in sorted(READ_ONLY))
    script = f"mount --bind {ro} {ro} && mount -o remount,ro,bind {ro} || exit 99\n{runs}\n"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run(["unshare", "-rm", "bash", "-c", script], capture_output=True, text=True, env=env,
                       timeout=600)  # fmt: skip
    assert p.stdout.count("rc=1") == len(READ_ONLY), p.stdout + p.stderr
    errors = [x for x in p.stderr.splitlines() if x.startswith("Error:")]
    assert "Traceback" not in p.stderr and len(errors) == len(READ_ONLY), p.stderr
    assert all(str(ro) in x for x in errors), errors
    # each names the output asked for, never a scratch folder of its own (generate's, before)
    assert not any("adsynth-gen-" in x for x in errors), errors

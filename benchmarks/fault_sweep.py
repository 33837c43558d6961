"""Issue 28's fault sweep: each bad input or failing system of items 1-12, run as a user would run it.

In a temporary folder the script makes its own small data (a few PNGs in the MVTec layout, imported at
32 px; a generated test set; a 1-epoch ``ae`` checkpoint; its maps), then runs every fault case as a
``python -m adsynth`` subprocess and prints a markdown table: the case, the command (paths relative
to the temporary folder), the exit code, the first line of output (stdout and stderr together; progress
lines left out), the wall time, and whether the outcome is the wanted one: the exit code and a line of
output that the case names (shown when it is not the first line), and no traceback.

The disk-full and read-only cases need a private mount namespace (``unshare -rm``: a 300 KB tmpfs, a
read-only bind mount); where there is none they are listed as skipped. Takes about two to three minutes
on two loaded cores.

    python benchmarks/fault_sweep.py > docs/FAULTS.md
    python benchmarks/fault_sweep.py --only "disk full" --keep /tmp/sweep
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ADSYNTH = [sys.executable, "-m", "adsynth"]
#: the progress lines a command prints on a pipe (``epoch 1/2: 3/3 batch, ...``, ``import: 4 img, ...``)
PROGRESS = re.compile(r"^[\w /\[\]-]+: \d+(/\d+)? (img|batch|images|samples)\b")
TIMEOUT = 300
#: a small generated test set (with --out), and a 1-epoch 32-px autoencoder (train ... with --data --out)
GEN = "generate --recipe cutpaste-scar --input imp.h5 --split test --limit 6 --normal-fraction 0.3 -q"
AE = "--model ae --image-size 32 --epochs 1 --workers 0 --device cpu --set latent_dim=8"


@dataclass
class Case:
    """One fault: ``command`` (adsynth's arguments) run in the work folder, or a ``shell`` script (``A``
    runs adsynth) whose exit code is reported; ``want_rc``, the ``want`` pattern and the ``refuse`` pattern
    (regexes over the output) decide whether it was handled as wanted."""

    item: str
    name: str
    command: str = ""
    want_rc: int = 1
    want: str = ""
    refuse: str = r"Traceback"  # a regex that must not match the output
    shell: str | None = None
    shown: str | None = None  # the command as shown, for shell cases
    setup: Callable[[Path], object] | None = None  # returns a teardown callable or None
    needs_namespace: bool = False
    env: dict[str, str] = field(default_factory=dict)


def _png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


def make_data(root: Path) -> None:
    """Photos in the MVTec layout (48×48 RGB), tall photos, a folder with a corrupt photo, odd photos."""
    rng = np.random.default_rng(0)

    def photo(h=48, w=48):
        img = rng.integers(70, 180, (h, w, 3), dtype=np.uint8)
        return cv2.GaussianBlur(img, (5, 5), 0)

    for split, kind, n in (("train", "good", 8), ("test", "good", 3), ("test", "crack", 3)):
        for i in range(n):
            img = photo()
            if kind == "crack":
                mask = np.zeros((48, 48), np.uint8)
                mask[12 + 3 * i : 30 + 3 * i, 20:24] = 255
                img[mask > 0] = 20
                _png(root / "photos" / "ground_truth" / kind / f"{i:03d}_mask.png", mask)
                tall_mask = np.zeros((64, 32), np.uint8)
                tall_mask[20:40, 10:14] = 255
                _png(root / "tall" / "ground_truth" / kind / f"{i:03d}_mask.png", tall_mask)
            _png(root / "photos" / split / kind / f"{i:03d}.png", img)
            _png(root / "tall" / split / kind / f"{i:03d}.png", photo(64, 32))
    for i in range(2):
        _png(root / "new" / f"p{i}.png", photo())
        _png(root / "new_bad" / f"p{i}.png", photo())
    (root / "new_bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a png" * 20)
    for i in range(3):
        _png(root / "gray" / f"g{i}.png", cv2.cvtColor(photo(), cv2.COLOR_RGB2GRAY))
    _png(root / "gray" / "colour.png", photo())
    for i in range(2):
        _png(root / "strip" / f"s{i}.png", photo())
    _png(root / "strip" / "long.png", rng.integers(0, 255, (5, 8000, 3), dtype=np.uint8))
    # Bad checkpoints: a text file, a zip that is no checkpoint, a truncated checkpoint (made later).
    (root / "text.pt").write_text("hello, this is a text file\n")
    with zipfile.ZipFile(root / "zip.pt", "w") as z:
        z.writestr("notes.txt", "a zip archive, not a checkpoint")
    (root / "bad_recipe.yaml").write_text(
        "name: r\ngenerators:\n  - name: ognet\n    params: {checkpoint: text.pt}\n"
    )


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT
    )


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env.update(OMP_NUM_THREADS="1", NO_ALBUMENTATIONS_UPDATE="1", PYTHONPATH=os.pathsep.join(sys.path))
    return env


def prepare(root: Path) -> float:
    """The small datasets, checkpoint and maps the cases start from; returns the seconds it took."""
    t0 = time.perf_counter()
    make_data(root)
    steps = [
        "dataset import --input photos --out imp.h5 --size 32",
        "dataset import --input tall --out pad.h5 --size 32 --resize pad",
        f"{GEN} --out gen.h5 --seed 0",
        f"{GEN} --out gen_seed1.h5 --seed 1",
        f"train --data imp.h5 --out run {AE} --quiet",
        "predict --checkpoint run/model.pt --data gen.h5 --out maps.h5 --device cpu --quiet",
        "eval --data gen.h5 --maps maps.h5 --out report",
    ]
    for command in steps:
        p = run([*ADSYNTH, *shlex.split(command)], root, base_env())
        if p.returncode != 0:
            raise SystemExit(f"setup failed: adsynth {command}\n{p.stdout}")
    full = (root / "run" / "model.pt").read_bytes()
    (root / "truncated.pt").write_bytes(full[: len(full) // 2])
    pickled = root / "pickled_maps"
    import h5py

    with h5py.File(root / "gen.h5", "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["names"][()]]
    for name in names:
        path = pickled / f"{os.path.splitext(name)[0]}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return time.perf_counter() - t0


HOLDER = """
import sys
import numpy as np
from adsynth.data import DatasetWriter
w = DatasetWriter(sys.argv[1], height=32, width=32, channels=1, buffer_rows=1)
w.append(np.zeros((32, 32, 1), np.uint8), name="a")
print("ready", flush=True)
sys.stdin.read()
w.close()
"""


def hold_output(root: Path):
    """Another process writing ``busy.h5`` until the case has run."""
    other = subprocess.Popen([sys.executable, "-c", HOLDER, str(root / "busy.h5")], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=base_env())  # fmt: skip
    assert other.stdout.readline().strip() == "ready"
    return lambda: other.communicate("", timeout=60)


def tmpfs(size: str, *commands: str) -> str:
    """A shell script: ``fs`` becomes a ``size`` tmpfs; the commands run; the exit code is the first's."""
    first, *rest = commands
    then = "".join(f"; {c}" for c in rest)
    return f"mkdir -p fs && mount -t tmpfs -o size={size} tmpfs fs || exit 99; {first}; rc=$?{then}; exit $rc"


def read_only(command: str) -> str:
    return f"mkdir -p ro && mount --bind ro ro && mount -o remount,ro,bind ro || exit 99; {command}"


# The cases read as a table, one or two lines each: ruff's formatter would spread them over 250 lines.
# fmt: off
def cases() -> list[Case]:
    full = "no space left on device while writing"
    left = 'echo "left in fs: [$(ls -A fs)]"'
    big = "generate --recipe cutpaste-scar --input imp.h5 --size 128 --per-image 4 -q"
    ae_big = "--model ae --image-size 32 --epochs 1 --workers 0 --device cpu"
    predict = "predict --checkpoint run/model.pt --device cpu"
    out = [
        # 1. A full disk: one line, exit 1, nothing left, the next run unaffected
        Case("1", "disk full: generate (twice; then the folder)",
             shell=tmpfs("300k", f"A {big} --out fs/gen.h5", f"A {big} --out fs/gen.h5", left),
             shown=f"adsynth {big} --out fs/gen.h5 (300 KB tmpfs, twice)",
             want=rf"^Error: {full} fs/gen.h5\n(.|\n)*^Error: {full} fs/gen.h5\n(.|\n)*left in fs: \[\]",
             needs_namespace=True),
        Case("1", "disk full: dataset import (twice; then the folder)",
             shell=tmpfs("300k", *2 * ["A dataset import --input photos --out fs/imp.h5 --size 128"], left),
             shown="adsynth dataset import --input photos --out fs/imp.h5 --size 128 (300 KB tmpfs, twice)",
             want=rf"^Error: {full} fs/imp.h5\n(.|\n)*^Error: {full}(.|\n)*left in fs: \[\]",
             needs_namespace=True),
        Case("1", "disk full: train (checkpoint)",
             shell=tmpfs("64k", f"A train --data imp.h5 --out fs/run {ae_big}", left),
             shown=f"adsynth train --data imp.h5 --out fs/run {ae_big} (64 KB tmpfs)",
             want=rf"^Error: {full} fs/run(.|\n)*left in fs: \[\]", needs_namespace=True),
        Case("1", "disk full: predict (maps)",
             shell=tmpfs("16k", f"A {predict} --data gen.h5 --out fs/maps.h5", left),
             shown=f"adsynth {predict} --data gen.h5 --out fs/maps.h5 (16 KB tmpfs)",
             want=rf"^Error: {full} fs/maps.h5(.|\n)*left in fs: \[\]", needs_namespace=True),
        Case("1", "disk full: eval (report)",
             shell=tmpfs("64k", "A eval --data gen.h5 --maps maps.h5 --out fs/report", left),
             shown="adsynth eval --data gen.h5 --maps maps.h5 --out fs/report (64 KB tmpfs)",
             want=rf"^Error: {full} fs/report(.|\n)*left in fs: \[\]", needs_namespace=True),
        # 2. The wrong data file
        Case("2", "eval: maps of another data file", "eval --data gen_seed1.h5 --maps maps.h5 --out r2",
             want=r"^Error: maps.h5 was predicted on another data file than gen_seed1.h5"),
        Case("2", "eval: the same, --allow-other-data",
             "eval --data gen_seed1.h5 --maps maps.h5 --out r2b --allow-other-data",
             want_rc=0, want=r"^report written to r2b"),
    ]
    # 3. Operating-system errors
    read_only_commands = {
        "dataset import": "dataset import --input photos --out ro/i.h5 --size 32",
        "generate": "generate --recipe cutpaste-scar --input imp.h5 --limit 2 -q --out ro/g.h5",
        "eval": "eval --data gen.h5 --maps maps.h5 --out ro/report",
        "train": f"train --data imp.h5 --out ro/run {AE}",
        "dataset preview": "dataset preview gen.h5 --out ro/p.png",
    }
    for command, args in read_only_commands.items():
        out.append(Case("3", f"read-only folder: {command}", shell=read_only(f"A {args}"),
                        shown=f"adsynth {args} (ro: a read-only mount)", want=r"^Error: .*\bro/",
                        needs_namespace=True))
    out += [
        Case("3", "two writers to one output", f"{GEN} --out busy.h5", setup=hold_output,
             want=r"^Error: another process is writing busy.h5"),
        Case("3", "pickled .npy maps", "eval --data gen.h5 --maps pickled_maps --out r3",
             want=r"^Error: .*pickled objects"),
        # 4. predict --input without thresholds
        Case("4", "predict --input, no threshold set", f"{predict} --input new --out res4", want_rc=0,
             want=r"^no image threshold set"),
        # 5. Defaults that surprise: a fit-only model at the dataset's size, saying what it fitted
        Case("5", "fit-only padim, no --image-size", "train --model padim --data imp.h5 --out run_padim "
             "--backbone resnet18 --no-pretrained --workers 0 --device cpu", want_rc=0,
             want=r"fitted on \d+ images at 32 px", refuse=r"Traceback|trained for 0 epochs"),
        # 6. Silent long work
        Case("6", "calibrate shows progress",
             "calibrate --checkpoint run_cal/model.pt --data imp.h5 --split test --device cpu", want_rc=0,
             want=r"^calibrate: (.|\n)*^thresholds",
             setup=lambda root: shutil.copytree(root / "run", root / "run_cal") and None),
        # 7. Fail fast
        Case("7", "unknown model name", "train --model nope --data imp.h5 --out r7", want_rc=2,
             want=r"unknown model 'nope'"),
        Case("7", "existing output: train", "train --data imp.h5 --out run --model ae", want_rc=2,
             want=r"--overwrite"),
        Case("7", "existing output: generate", f"{GEN} --out gen.h5", want_rc=2, want=r"--overwrite"),
        Case("7", "existing output: dataset import", "dataset import --input photos --out imp.h5", want_rc=2,
             want=r"--overwrite"),
        Case("7", "existing output: predict", f"{predict} --data gen.h5 --out maps.h5", want_rc=2,
             want=r"--overwrite"),
        Case("7", "existing output: eval", "eval --data gen.h5 --maps maps.h5 --out report", want_rc=2,
             want=r"--overwrite"),
        Case("7", "list the models", "models", want_rc=0, want=r"^\| padim \|"),
        # 8. Same seed, same bytes
        Case("8", "two identical train runs (SOURCE_DATE_EPOCH set)",
             shell=f"A train --data imp.h5 --out s {AE} -q && cp s/model.pt first.pt && "
             f"A train --data imp.h5 --out s {AE} -q --overwrite && cmp first.pt s/model.pt "
             "&& echo same bytes",
             shown=f"adsynth train --data imp.h5 --out s {AE} -q [--overwrite], twice; cmp the model.pt",
             want_rc=0, want=r"^same bytes", env={"SOURCE_DATE_EPOCH": "1700000000"}),
        # 9. A failed generate leaves nothing
        Case("9", "generate, recipe names a bad checkpoint",
             shell='A generate --recipe bad_recipe.yaml --input imp.h5 --out g9.h5; rc=$?; '
             'echo "left: [$(ls -A | grep g9)]"; exit $rc',
             shown="adsynth generate --recipe bad_recipe.yaml --input imp.h5 --out g9.h5",
             want=r"^Error: .*text.pt(.|\n)*left: \[\]"),
    ]
    # 10. Bad checkpoint files: the same exit code whatever is inside, no advice to unpickle
    for kind in ("text", "zip", "truncated"):
        out.append(Case("10", f"bad checkpoint: {kind}",
                        f"predict --checkpoint {kind}.pt --data gen.h5 --out m10{kind}.h5 --device cpu",
                        want=r"^Error: .*\bnot\b", refuse=r"Traceback|weights_only"))
    out += [
        # 11. Letterbox padding
        Case("11", "eval on a --resize pad import",
             "eval --data pad.h5 --checkpoint run/model.pt --out r11 --device cpu", want_rc=0,
             want=r"letterbox padding of a `pad` import\) are left out: [\d.]+ % of pixels"),
        # 12. The smaller ones
        Case("12", "predict --input, a corrupt photo", f"{predict} --input new_bad --out res12",
             want=r"^Error: .*broken.png.*--skip-bad"),
        Case("12", "the same with --skip-bad", f"{predict} --input new_bad --out res12b --skip-bad",
             want_rc=0, want=r"^warning: skipped 1 unreadable photo\(s\):\n  broken.png: "),
        Case("12", "a colour photo in a gray folder", "dataset import --input gray --out g12.h5 --color gray",
             want_rc=0, want=r"^warning: (.|\n)*colour.png"),
        Case("12", "an 8000×5 photo stretched", "dataset import --input strip --out s12.h5 --size 32",
             want_rc=0, want=r"^warning: (.|\n)*long.png"),
        Case("12", "the demo's files: line", "demo --out demo --size 32 --device cpu", want_rc=0,
             want=r"^files: .*heldout.h5"),
        # Another one a new user meets
        Case("-", "eval of a text file as data", "eval --data text.pt --maps maps.h5 --out rx",
             want=r"^Error: .*text.pt"),
    ]
    return out
# fmt: on


def can_unshare(root: Path) -> bool:
    if not shutil.which("unshare") or sys.platform != "linux":
        return False
    probe = "mkdir -p probe && mount -t tmpfs -o size=64k tmpfs probe && umount probe; rmdir probe"
    try:
        p = subprocess.run(["unshare", "-rm", "sh", "-c", probe], cwd=root, capture_output=True, timeout=30)
        return p.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_case(case: Case, root: Path, namespace: bool) -> tuple[str, str, str, float, str]:
    """``(command, exit code, first line, wall s, ok)`` of one case."""
    shown = case.shown or f"adsynth {case.command}"
    if case.needs_namespace and not namespace:
        return shown, "-", "skipped: no private mount namespace (unshare -rm) here", 0.0, "skip"
    env = {**base_env(), **case.env}
    teardown = case.setup(root) if case.setup else None
    t0 = time.perf_counter()
    try:
        if case.shell is None:
            p = run([*ADSYNTH, *shlex.split(case.command)], root, env)
        else:
            argv = ["bash", "-c", f'A() {{ {shlex.join(ADSYNTH)} "$@"; }}; {case.shell}']
            if case.needs_namespace:
                argv = ["unshare", "-rm", *argv]
            p = run(argv, root, env)
    finally:
        wall = time.perf_counter() - t0
        if callable(teardown):
            teardown()
    output = p.stdout
    lines = [x for x in output.splitlines() if x.strip() and not PROGRESS.match(x)]
    first = lines[0] if lines else ""
    found = re.search(case.want, output, re.M) if case.want else None
    refused = re.search(case.refuse, output, re.M) if case.refuse else None
    if p.returncode != case.want_rc or (case.want and found is None) or refused is not None:
        verdict = f"NO (wanted exit {case.want_rc}, /{case.want}/, not /{case.refuse}/)"
    elif found is None:
        verdict = "yes"
    else:  # the whole line where the wanted text ends, when it is not the first line
        start = output.rfind("\n", 0, max(found.end() - 1, 0)) + 1
        end = output.find("\n", found.end())
        line = output[start : end if end >= 0 else None].strip()
        verdict = "yes" if line == first else f"yes: {line}"
    return shown, str(p.returncode), first, wall, verdict


def _cell(text: str, limit: int = 150) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--keep", type=Path, default=None, help="Work in this folder and keep it (else a temp one)."
    )
    ap.add_argument("--only", default=None, help="Run only the cases whose name contains this text.")
    args = ap.parse_args(argv)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="adsynth-faults-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        t_setup = prepare(root)
        namespace = can_unshare(root)
        rows = []
        for case in cases():
            if args.only and args.only not in case.name:
                continue
            rows.append((case, *run_case(case, root, namespace)))
            print(f"{case.item:>3} {case.name}: {rows[-1][2]} ({rows[-1][4]:.1f} s)", file=sys.stderr)
    total = time.perf_counter() - t_all
    when = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    handled = sum(r[5].startswith("yes") for r in rows)
    skipped = sum(r[5] == "skip" for r in rows)
    print("# Fault sweep (issue 28)\n")
    where = f"{platform.node() or 'this machine'} ({platform.system()} {platform.machine()}, "
    where += f"{os.cpu_count()} CPUs, Python {platform.python_version()})"
    print(
        f"Measured {when} on {where} by `python benchmarks/fault_sweep.py`: {len(rows)} cases, "
        f"{handled} handled as wanted, {skipped} skipped; setup {t_setup:.0f} s, total {total:.0f} s. "
        "Paths are relative to the sweep's temporary folder; progress lines are left out of the first line.\n"
    )
    print("| item | case | command | exit code | first line of output | wall s | as wanted |")
    print("|---|---|---|---:|---|---:|---|")
    for case, shown, rc, first, wall, verdict in rows:
        print(f"| {case.item} | {_cell(case.name)} | `{_cell(shown, 200)}` | {rc} | {_cell(first)} | "
              f"{wall:.1f} | {_cell(verdict)} |")  # fmt: skip
    return 0 if handled + skipped == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The CLI: --help of every command, lazy imports, one-line errors with exit codes, dataset commands."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from adsynth.cli.main import COMMANDS, cli


def _all_commands():
    ctx = click.Context(cli)
    out = []

    def walk(group, prefix):
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            out.append(prefix + [name])
            if isinstance(cmd, click.Group):
                walk(cmd, prefix + [name])

    walk(cli, [])
    return out


@pytest.mark.parametrize("args", _all_commands(), ids=lambda a: " ".join(a))
def test_help_of_every_command(args):
    r = CliRunner().invoke(cli, [*args, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage:" in r.output


def test_top_level_help_lists_every_command():
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0
    for name in COMMANDS:
        assert name in r.output


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from adsynth.cli.main import cli\n"
        "try:\n    cli.main(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "import click; ctx = click.Context(cli)\n"
        "[cli.get_command(ctx, n) for n in cli.list_commands(ctx)]\n"
        "heavy = ['torch', 'timm', 'albumentations', 'cv2', 'h5py', 'matplotlib', 'skimage', 'numpy']\n"
        "print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


def _command(args):
    cmd, ctx = cli, click.Context(cli)
    for name in args:
        cmd = cmd.get_command(ctx, name)
    return cmd


def test_shared_options_are_built_from_the_format():
    from adsynth.cli.common import ALL_SPLITS
    from adsynth.data.format import SPLITS

    seen = set()
    for args in _all_commands():
        for p in _command(args).params:
            if p.name in ("split", "source_split"):
                assert list(p.type.choices) in ([*SPLITS], [*SPLITS, ALL_SPLITS]), args
                seen.add(" ".join(args))
            if p.name == "device":
                assert p.default == "auto" and "cuda:i" in p.help, args
            if p.name in ("workers", "batch_size"):
                assert p.type.min is not None and p.type.min >= 0, args
    assert {"generate", "predict", "eval", "train", "dataset import", "dataset preview"} <= seen
    # `all` reaches the library as None.
    split = next(p for p in _command(["predict"]).params if p.name == "split")
    assert split.process_value(click.Context(_command(["predict"])), "all") is None


def test_import_info_preview_export(tmp_path, mvtec_dir):
    r = CliRunner()
    out = tmp_path / "parts.h5"
    res = r.invoke(cli, ["dataset", "import", "--input", str(mvtec_dir), "--out", str(out), "--size", "32"])
    assert res.exit_code == 0, res.output
    assert "13 images" in res.output
    res = r.invoke(cli, ["dataset", "info", str(out), "--json"])
    info = json.loads(res.output)
    assert info["images"] == 13 and info["size"] == [32, 32, 1]
    assert {(c["split"], c["defect_type"]): c["images"] for c in info["counts"]}[("test", "crack")] == 2
    res = r.invoke(cli, ["dataset", "info", str(out)])
    assert "| test | crack | 1 | 2 |" in res.output
    res = r.invoke(cli, ["dataset", "preview", str(out), "--out", str(tmp_path / "p.png"), "-n", "5"])
    assert res.exit_code == 0 and (tmp_path / "p.png").stat().st_size > 1000
    res = r.invoke(cli, ["dataset", "export", str(out), "--out", str(tmp_path / "exp"), "--split", "test"])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "exp" / "test").rglob("*.png"))) == 7
    assert len(list((tmp_path / "exp" / "ground_truth").rglob("*_mask.png"))) == 4
    res = r.invoke(cli, ["dataset", "merge", str(out), str(out), "--out", str(tmp_path / "m.h5")])
    assert res.exit_code == 0 and "26 images" in res.output


def test_errors_are_one_line_with_exit_codes(tmp_path, mvtec_dir):
    r = CliRunner()
    res = r.invoke(
        cli, ["dataset", "import", "--input", str(tmp_path / "nope"), "--out", str(tmp_path / "x.h5")]
    )
    assert res.exit_code == 1 and res.output.strip().count("\n") == 0 and "nope" in res.output
    assert "Traceback" not in res.output
    out = tmp_path / "a.h5"
    assert r.invoke(cli, ["dataset", "import", "--input", str(mvtec_dir), "--out", str(out)]).exit_code == 0
    res = r.invoke(cli, ["dataset", "import", "--input", str(mvtec_dir), "--out", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.output
    res = r.invoke(
        cli,
        ["dataset", "import", "--input", str(mvtec_dir), "--out", str(out), "--size", "abc", "--overwrite"],
    )
    assert res.exit_code == 2 and "size" in res.output
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"junk")
    res = r.invoke(cli, ["dataset", "info", str(junk)])
    assert res.exit_code == 1 and "junk.h5" in res.output and res.output.count("\n") == 1


def test_corrupt_image_skip_bad_summary(tmp_path, mvtec_dir):
    (mvtec_dir / "train" / "good" / "002.png").write_bytes(b"broken")
    r = CliRunner()
    out = tmp_path / "a.h5"
    res = r.invoke(cli, ["dataset", "import", "--input", str(mvtec_dir), "--out", str(out)])
    assert res.exit_code == 1 and "002.png" in res.output and not out.exists()
    res = r.invoke(cli, ["dataset", "import", "--input", str(mvtec_dir), "--out", str(out), "--skip-bad"])
    assert res.exit_code == 0 and "skipped 1" in res.output and "002.png" in res.output


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "adsynth", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "adsynth" in out.stdout

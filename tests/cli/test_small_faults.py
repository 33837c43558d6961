"""The smaller faults of issue 28, item 12: a corrupt photo in ``predict --input`` (``--skip-bad``), the
demo's ``files:`` line, an overlay score beyond its colour bar, and what ``SOURCE_DATE_EPOCH`` does."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from adsynth.cli.main import cli
from adsynth.evaluate.plots import overlay

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def checkpoint(noise_dataset, tmp_path):
    """A tiny trained ae (32 px, RGB)."""
    from adsynth.zoo.trainer import TrainConfig, train

    cfg = TrainConfig(model="ae", data=str(noise_dataset), out=str(tmp_path / "run"), epochs=1, batch_size=4,
                      image_size=32, device="cpu", workers=0, hparams={"latent_dim": 8},
                      progress=False)  # fmt: skip
    train(cfg)
    return tmp_path / "run" / "model.pt"


def _photos(folder):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(2):
        assert cv2.imwrite(str(folder / f"ok{i}.png"), rng.integers(60, 200, (40, 48, 3), dtype=np.uint8))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 8)
    return folder


def test_predict_input_skips_a_corrupt_photo_with_skip_bad(checkpoint, tmp_path):
    photos = _photos(tmp_path / "photos")
    base = ["predict", "--checkpoint", str(checkpoint), "--input", str(photos), "--device", "cpu"]

    r = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "a")])
    assert r.exit_code == 1, r.output
    assert r.output.count("\n") == 1 and "broken.png" in r.output and "--skip-bad" in r.output, r.output

    r = CliRunner().invoke(cli, [*base, "--out", str(tmp_path / "b"), "--skip-bad"])
    assert r.exit_code == 0, r.output
    assert "warning: skipped 1 unreadable photo(s):" in r.stderr and "broken.png" in r.stderr, r.stderr
    assert "2 images" in r.stdout
    with open(tmp_path / "b" / "results.csv", newline="") as f:
        assert sorted(row["name"] for row in csv.DictReader(f)) == ["ok0.png", "ok1.png"]

    data_args = ["--data", "x.h5", "--out", "m.h5", "--skip-bad"]
    r = CliRunner().invoke(cli, ["predict", "--checkpoint", str(checkpoint), *data_args])
    assert r.exit_code == 2 and "--skip-bad go with --input" in r.output


def test_demo_files_line_names_every_file_it_wrote(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(cli, ["demo", "--out", str(out), "--size", "32", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    line = next(x for x in r.output.splitlines() if x.startswith("files:"))
    listed = re.search(r"\((.*)\)", line).group(1).split(", ")
    assert all((out / name).exists() for name in listed), line
    assert {p.name for p in out.iterdir()} <= {name.split("/")[0] for name in listed}, line


@pytest.mark.parametrize("beyond", [5.0, -2.0])
def test_overlay_marks_a_score_beyond_its_colour_bar(beyond):
    amap = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    mask = np.zeros((64, 64), np.uint8)
    end = 1.0 if beyond > 1 else 0.0
    at_end = overlay(None, amap, mask, 0.0, 1.0, caption="x", score=end)
    off = overlay(None, amap, mask, 0.0, 1.0, caption="x", score=beyond)
    # clamped to the end, a plain tick would draw the same picture as a score equal to the end
    assert off.shape[0] > at_end.shape[0]  # a line saying the score is off the scale
    side = slice(-12, None) if beyond > 1 else slice(0, 12)
    rows = slice(amap.shape[0] * 3, amap.shape[0] * 3 + 10)  # the bar (maps under 160 px are enlarged)
    assert not np.array_equal(off[rows, side], at_end[rows, side])  # an arrowhead, not the tick


def test_readme_says_what_source_date_epoch_does():
    text = README.read_text(encoding="utf-8")
    paragraph = next(p for p in text.split("\n\n") if "Same seed, same bytes" in p)
    assert "SOURCE_DATE_EPOCH" in paragraph and "`created`" in paragraph, paragraph


def test_a_corrupt_photo_is_reported_once_without_opencv_warnings(tmp_path):
    """OpenCV's own "[ WARN ] ... grfmt_png" line no longer precedes our one-line error."""
    import subprocess
    import sys

    ok, buf = cv2.imencode(".png", np.zeros((64, 64), np.uint8))
    data = bytearray(buf.tobytes())
    data[40:44] = b"\xff\xff\xff\x00"  # a chunk length far beyond the file
    bad = tmp_path / "broken.png"
    bad.write_bytes(bytes(data))
    code = (
        "from adsynth.data.images import read_image\n"
        f"try:\n    read_image({str(bad)!r})\nexcept Exception as e:\n    print(e)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "not a readable image" in r.stdout
    assert "WARN" not in r.stderr, r.stderr

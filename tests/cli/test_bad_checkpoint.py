"""A bad checkpoint is refused in one line that says what the file is not, with one exit code whatever
is inside it, and never quotes PyTorch's advice to load with ``weights_only=False`` (issue 28, item 10)."""

from __future__ import annotations

import collections
import datetime
import os
import pickle
import zipfile

import pytest
import torch
from click.testing import CliRunner

from adsynth.cli.main import cli


def _text(p):
    p.write_text("hello, this is a text file\n")


def _random(p):
    p.write_bytes(b"\x13" + os.urandom(4095))


def _zip(p):
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("notes.txt", "not a checkpoint")


def _pickle(p):
    with open(p, "wb") as f:
        pickle.dump(collections.OrderedDict(a=datetime.date(2020, 1, 1)), f, protocol=4)


def _objects(p):
    torch.save({"when": datetime.datetime(2020, 1, 1)}, p)


def _other_data(p):
    torch.save({"a": torch.zeros(2)}, p)


def _empty(p):
    p.write_bytes(b"")


def _no_version(p):
    torch.save({"format": "adsynth-checkpoint", "format_version": "x"}, p)


def _incomplete(p):
    torch.save({"format": "adsynth-checkpoint", "format_version": 1}, p)


def _unknown_model(p):
    fields = {"model": "nope", "config": {}, "state_dict": {}}
    torch.save({"format": "adsynth-checkpoint", "format_version": 1, **fields}, p)


BAD = {
    "text": _text,
    "random bytes": _random,
    "zip": _zip,
    "pickle": _pickle,
    "torch objects": _objects,
    "other data": _other_data,
    "empty": _empty,
    "bad version": _no_version,
    "incomplete": _incomplete,
    "unknown model": _unknown_model,
}


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_checkpoint_is_one_line_exit_1(kind, noise_dataset, tmp_path):
    bad = tmp_path / "bad.pt"
    BAD[kind](bad)
    out = tmp_path / "maps.h5"
    args = ["predict", "--checkpoint", str(bad), "--data", str(noise_dataset), "--out", str(out)]
    r = CliRunner().invoke(cli, [*args, "--device", "cpu"])
    assert r.exit_code == 1, (kind, r.exit_code, r.output)
    assert r.output.startswith(f"Error: {bad}: ") and r.output.count("\n") == 1, (kind, r.output)
    assert "weights_only" not in r.output and "will likely succeed" not in r.output, r.output
    assert not out.exists()


@pytest.mark.parametrize("kind", ["text", "zip", "pickle", "torch objects", "empty"])
def test_a_bad_weights_file_says_what_it_is_not(kind, tmp_path):
    from adsynth.errors import WeightsError
    from adsynth.zoo.backbones import checkpoint_backbone_state, read_state_dict

    bad = tmp_path / "bad.pt"
    BAD[kind](bad)
    for read in (read_state_dict, checkpoint_backbone_state):
        with pytest.raises(WeightsError) as e:
            read(bad)
        msg = str(e.value)
        assert str(bad) in msg and "\n" not in msg and "weights_only" not in msg, msg

"""Same seed, same bytes for checkpoints: with ``SOURCE_DATE_EPOCH`` set, two identical ``train`` runs
write byte-identical ``model.pt`` and ``last.pt`` (issue 28, item 8; no temporary name in the zip)."""

from __future__ import annotations

import zipfile

from click.testing import CliRunner

from adsynth.cli.main import cli


def test_two_identical_train_runs_write_identical_checkpoints(noise_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    out = tmp_path / "run"
    args = ["train", "--model", "ae", "--data", str(noise_dataset), "--out", str(out), "--epochs", "1"]
    args += ["--batch-size", "4", "--image-size", "32", "--device", "cpu", "--workers", "0"]
    args += ["--set", "latent_dim=8", "--quiet"]
    files = []
    for overwrite in ([], ["--overwrite"]):
        r = CliRunner().invoke(cli, [*args, *overwrite])
        assert r.exit_code == 0, r.output
        files.append({name: (out / name).read_bytes() for name in ("model.pt", "last.pt")})
        with zipfile.ZipFile(out / "model.pt") as z:
            assert {n.split("/")[0] for n in z.namelist()} == {"archive"}, z.namelist()
    assert files[0] == files[1]

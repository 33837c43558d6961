"""``adsynth models``: the registered zoo methods."""

from __future__ import annotations

import click

from adsynth.cli.common import json_option, print_rows


@click.command("models")
@json_option
def models(as_json):
    """List the models: name, family, training mode, pretrained backbone needed, synthetic anomalies, the
    real-defect supervision it accepts (weak: image labels, full: masks), paper."""
    # the plain-data index when it covers every method folder (no torch import), else the live registry
    from adsynth.zoo.model_index import build_index, read_index

    rows = [{k: v for k, v in r.items() if k != "folder"} for r in (read_index() or build_index())]

    def cells(r):
        synth = (r["default_recipe"] or "yes") if r["uses_synthetic"] else "no"
        pretrained = "yes" if r["needs_pretrained"] else "no"
        real = "+".join(s for s in r["supervision"] if s != "unsupervised") or "no"
        return [r["name"], r["family"], r["fit_mode"], pretrained, synth, real, r["paper"]]

    header = [
        "model", "family", "training", "pretrained backbone", "synthetic anomalies", "real defects", "paper",
    ]  # fmt: skip
    print_rows(rows, as_json, header, cells)

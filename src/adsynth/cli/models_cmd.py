"""``adsynth models``: the registered zoo methods."""

from __future__ import annotations

import click

from adsynth.cli.common import json_option, print_rows


@click.command("models")
@json_option
def models(as_json):
    """List the models: name, family, training mode, pretrained backbone needed, paper."""
    from adsynth.zoo import load_models
    from adsynth.zoo.base import MODELS

    load_models()
    rows = [
        {
            "name": name,
            "family": cls.family,
            "fit_mode": cls.fit_mode,
            "needs_pretrained": cls.needs_pretrained,
            "uses_synthetic": cls.uses_synthetic,
            "default_recipe": cls.default_recipe,
            "paper": cls.paper,
        }
        for name, cls in MODELS.items()
    ]

    def cells(r):
        synth = (r["default_recipe"] or "yes") if r["uses_synthetic"] else "no"
        pretrained = "yes" if r["needs_pretrained"] else "no"
        return [r["name"], r["family"], r["fit_mode"], pretrained, synth, r["paper"]]

    header = ["model", "family", "training", "pretrained backbone", "synthetic anomalies", "paper"]
    print_rows(rows, as_json, header, cells)

"""``adsynth models``: the registered zoo methods."""

from __future__ import annotations

import click


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
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
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    click.echo("| model | family | training | pretrained backbone | synthetic anomalies | paper |")
    click.echo("|---|---|---|---|---|---|")
    for r in rows:
        synth = (r["default_recipe"] or "yes") if r["uses_synthetic"] else "no"
        click.echo(
            f"| {r['name']} | {r['family']} | {r['fit_mode']} | {'yes' if r['needs_pretrained'] else 'no'} "
            f"| {synth} | {r['paper']} |"
        )

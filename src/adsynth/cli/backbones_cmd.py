"""``adsynth backbones``: the pretrained backbones that have weights on this machine, and where from."""

from __future__ import annotations

import click


@click.command("backbones")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def backbones(as_json):
    """List backbone weights: the bundled ImageNet catalogue (installed or how to install) and timm's cache.

    With `pretrained` (the default of padim, patchcore), a backbone's weights come from `--weights FILE`
    when given, else its bundled package, else timm's local cache; nothing is ever downloaded.
    """
    from adsynth.zoo.bundled_weights import DEFAULT_BACKBONE, local_weights

    rows = local_weights()
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    click.echo("| backbone | source | available | size MB | licence | file or install command |")
    click.echo("|---|---|---|---:|---|---|")
    for r in rows:
        name = r["backbone"] + (" (default)" if r["backbone"] == DEFAULT_BACKBONE else "")
        where = r["path"] if r["installed"] else f"`{r['install']}`"
        click.echo(
            f"| {name} | {r['source']} | {'yes' if r['installed'] else 'no'} | {r['size_mb'] or '–'} "
            f"| {r['licence'] or '–'} | {where} |"
        )

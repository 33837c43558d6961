"""``adsynth backbones``: the pretrained backbones that have weights on this machine, and where from."""

from __future__ import annotations

import click

from adsynth.cli.common import json_option, print_rows


@click.command("backbones")
@json_option
def backbones(as_json):
    """List backbone weights: the bundled ImageNet catalogue (installed or how to install) and timm's cache.

    With `pretrained` (the default of padim, patchcore), a backbone's weights come from `--weights FILE`
    when given, else its bundled package, else timm's local cache; nothing is ever downloaded.
    """
    from adsynth.zoo.bundled_weights import DEFAULT_BACKBONE, local_weights

    def cells(r):
        name = r["backbone"] + (" (default)" if r["backbone"] == DEFAULT_BACKBONE else "")
        where = r["path"] if r["installed"] else f"`{r['install']}`"
        available = "yes" if r["installed"] else "no"
        return [name, r["source"], available, r["size_mb"] or "–", r["licence"] or "–", where]

    header = ["backbone", "source", "available", "size MB", "licence", "file or install command"]
    print_rows(local_weights(), as_json, header, cells, right=(3,))

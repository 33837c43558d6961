"""Regenerate the preview image of every recipe shown in docs/RECIPES.md.

    python docs/make_recipe_previews.py

Sources are the bundled sample images (scikit-image's coffee photo, cropped), so the previews can be
rebuilt anywhere and carry no third-party dataset.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2

from adsynth.data.preview import contact_sheet
from adsynth.synth.engine import generate_dataset
from adsynth.synth.recipes import RECIPES

OUT = Path(__file__).parent / "recipes"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        for name in RECIPES:
            data = Path(d) / f"{name}.h5"
            generate_dataset(name, data, input=None, sample="coffee", size=128, limit=6, per_image=1, seed=0)
            png = contact_sheet(data, Path(d) / f"{name}.png", n=6, cols=6, tile=128, overwrite=True)
            # JPEG keeps the docs light; the contact sheet itself is lossless PNG.
            cv2.imwrite(str(OUT / f"{name}.jpg"), cv2.imread(str(png)), [cv2.IMWRITE_JPEG_QUALITY, 85])
            print(f"wrote {OUT / name}.jpg")


if __name__ == "__main__":
    main()

"""Short CPU runs of ae, vae and draem learn a small synthetic task (image AUROC clearly above chance).

The task: 64×64 grayscale crops of scikit-image's brick texture. 48 crops train the model; the test split
holds 16 other crops and 16 crops with a painted ellipse whose grey level is ±50 from the crop's mean
(a stain or hole). Each test runs the whole pipeline: trainer → checkpoint → predict_dataset → maps.h5.

What the thresholds mean:

* ae / vae: even a barely trained autoencoder (one that reconstructs a blurred mean crop) separates these
  blobs, so the 0.8 image-AUROC threshold checks the pipeline end to end (maps, scores, file order) more
  than the method; the pixel AUROC ≥ 0.8 checks that the maps light up on the defect.
* draem: a DRAEM whose discriminative network has not learnt to segment is at chance (a 10-epoch,
  60-step run measured 0.36-0.50), so ≥ 0.7 shows that it learnt from the online synthetic anomalies
  (DRAEM's Perlin/texture generator), which differ from the painted test defects. Measured: 1.0.
"""

from __future__ import annotations

import pytest
from zoo_helpers import blob_task, draem_recipe, train_and_score

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    path = tmp_path_factory.mktemp("learning") / "brick.h5"
    return blob_task(path)


def run(task, tmp_path, model: str, epochs: int, **kw) -> tuple[float, float]:
    """Train, predict the test split; return (image AUROC, pixel AUROC)."""
    r = train_and_score(task, tmp_path, model, epochs, **kw)
    return r["image_auroc"], r["pixel_auroc"]


def test_ae_learns(task, tmp_path):
    image_auroc, pixel_auroc = run(task, tmp_path, "ae", 20, lr=1e-3)
    print(f"ae: image AUROC {image_auroc:.3f}, pixel AUROC {pixel_auroc:.3f}")
    assert image_auroc >= 0.8 and pixel_auroc >= 0.8


def test_vae_learns(task, tmp_path):
    image_auroc, pixel_auroc = run(task, tmp_path, "vae", 20, lr=1e-3)
    print(f"vae: image AUROC {image_auroc:.3f}, pixel AUROC {pixel_auroc:.3f}")
    assert image_auroc >= 0.8 and pixel_auroc >= 0.8


def test_draem_learns(task, tmp_path):
    recipe = draem_recipe()
    image_auroc, pixel_auroc = run(
        task, tmp_path, "draem", 25, lr=1e-3, recipe=recipe, hparams={"base_width": 8}
    )
    print(f"draem (recipe 'draem'): image AUROC {image_auroc:.3f}, pixel AUROC {pixel_auroc:.3f}")
    assert image_auroc >= 0.7

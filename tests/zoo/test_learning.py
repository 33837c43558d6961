"""Every model learns a small task on CPU: the learning cases of the method folders' ``testing.py``.

Each case (``adsynth.zoo.testing.LearningCase``) trains through the trainer, predicts the test split through
``predict_dataset`` (maps.h5) and scores it with scikit-learn (``zoo_helpers.train_and_score``). The tasks:

* ``blobs`` (``zoo_helpers.blob_task``): 64×64 gray crops of scikit-image's brick texture; 48 crops train the
  model, the test split holds 16 other crops and 16 with a painted noisy ellipse ±50 grey levels from the
  crop's mean (a stain or hole). Methods that train on synthetic defects never see a blob.
* ``colour`` (``zoo_helpers.colour_task``): the same crops through a fixed colour map; the defect keeps the
  texture but rolls the channels inside an ellipse, a stain of another hue.

Thresholds are well above chance (0.5) and below what each case measured (the comments of its
``testing.py``, and the method's README), so that they hold across platforms. Besides the AUROCs a case may
ask that the logged loss fell, that the trained map over the normal images is a fraction of the untrained
network's (it learnt the normal texture: an untrained inpainter already separates these blobs), or that
some metrics were logged or stayed under a bound.
"""

from __future__ import annotations

import csv

import pytest
import torch
from sklearn.metrics import roc_auc_score
from zoo_helpers import blob_task, colour_task, predict_scores, train_and_score

from adsynth.zoo import create_model, load_models
from adsynth.zoo.base import MODELS
from adsynth.zoo.testing import SettingsError, settings_for

load_models()
pytestmark = pytest.mark.slow

TASKS = {"blobs": blob_task, "colour": colour_task}


def _cases() -> list:
    """One parameter per (model, case) of the registry; a model whose settings do not load gets one
    parameter whose test fails with the loader's message (a collection error would stop every test)."""
    out = []
    for name in MODELS.list():
        try:
            cases = settings_for(name).learning
        except SettingsError:
            out.append(pytest.param(name, None, id=name))
            continue
        out += [pytest.param(name, case, id=f"{name}-{case}") for case in cases]
    return out


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """task name → dataset path, each written once per module when first asked for."""
    made: dict[str, str] = {}

    def get(task: str) -> str:
        if task not in made:
            assert task in TASKS, f"unknown learning task {task!r} (known: {', '.join(TASKS)})"
            made[task] = TASKS[task](tmp_path_factory.mktemp(task) / f"{task}.h5")
        return made[task]

    return get


def losses(result) -> list[float]:
    with open(result.out / "metrics.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize(("name", "case"), _cases())
def test_method_learns(name, case, tasks, tmp_path):
    spec = settings_for(name).learning[case]
    task = tasks(spec.task)
    train_kw = dict(spec.train)
    untrained = None
    if spec.max_map_ratio is not None:
        # The untrained network of the same seed and hyper-parameters, built before training.
        torch.manual_seed(train_kw.get("seed", 0))
        channels = 3 if spec.task == "colour" else 1
        size = train_kw.get("image_size", 64)
        untrained = create_model(name, image_size=size, channels=channels, **train_kw.get("hparams", {}))
    r = train_and_score(task, tmp_path, name, spec.epochs, **train_kw)
    if spec.loss_falls:
        curve = losses(r["result"])
        assert curve[-1] < curve[0], curve
    if spec.min_image_auroc is not None:
        assert r["image_auroc"] >= spec.min_image_auroc, r["image_auroc"]
    if spec.min_pixel_auroc is not None:
        assert r["pixel_auroc"] >= spec.min_pixel_auroc, r["pixel_auroc"]
    if untrained is not None:
        before, before_maps = predict_scores(untrained, task, tmp_path / "untrained.h5")
        normal = ~r["labels"]
        ratio = float(r["maps"][normal].mean() / before_maps[normal].mean())
        print(
            f"{name}: untrained image AUROC {roc_auc_score(r['labels'], before):.3f}, map ratio {ratio:.3f}"
        )
        assert ratio <= spec.max_map_ratio, ratio
    metrics = r["result"].metrics
    assert set(spec.logged) <= set(metrics), sorted(metrics)
    for key, bound in spec.metrics_below.items():
        assert metrics[key] < bound, (key, metrics[key])

"""Real defective photos in training (issue 25): supervised, weak and mixed training, and its refusals.

The task: 48 brick crops (64 px, gray) for training plus 8 *training* crops with a noisy ellipse (± 50 grey
levels, ``zoo_helpers.paint_blob``) and their masks; the test split holds 16 other crops and 16 with
ellipses. A model trained on the 8 real defects alone (no synthetic anomaly) must find the test ellipses.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zoo_helpers import paint_blob, texture_crops, train_and_score

from adsynth.errors import ConfigError, DataError
from adsynth.zoo import load_models
from adsynth.zoo.base import MODELS
from adsynth.zoo.data import ZooDataset
from adsynth.zoo.real_defects import RealDefectSampler, attach
from adsynth.zoo.trainer import TrainConfig, train

load_models()

SSN = {"hidden": 64, "cls_width": 16}


def write_task(path, n_train=48, n_defects=8, n_test=16, size=64, empty_mask=False) -> str:
    from adsynth.data import DatasetWriter

    imgs = texture_crops(n_train + n_defects + 2 * n_test, size, seed=0)
    rng = np.random.default_rng(1)
    with DatasetWriter(path, height=size, width=size, channels=1, seed=0, settings={"kind": "t"}) as wr:
        for i, img in enumerate(imgs[:n_train]):
            wr.append(img, name=f"train/good/{i:03d}.png")
        for i, img in enumerate(imgs[n_train : n_train + n_defects]):
            im, mask = paint_blob(img, rng, 50)
            if empty_mask and i == 0:
                mask = np.zeros_like(mask)
            wr.append(im, mask, label=1, defect_type="blob", name=f"test/blob/t{i:03d}.png")
        test = imgs[n_train + n_defects :]
        for i, img in enumerate(test[:n_test]):
            wr.append(img, split="test", name=f"test/good/{i:03d}.png")
        for i, img in enumerate(test[n_test:]):
            im, mask = paint_blob(img, rng, 50)
            wr.append(im, mask, label=1, defect_type="blob", split="test", name=f"test/blob/{i:03d}.png")
    return str(path)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return write_task(tmp_path_factory.mktemp("real") / "real.h5")


def cfg(task, out, model="supersimplenet", **kw):
    base = {"image_size": 64, "batch_size": 8, "workers": 0, "device": "cpu", "progress": False, "epochs": 1}
    base["hparams"] = SSN if model == "supersimplenet" else {}
    base.update(kw)
    return TrainConfig(model=model, data=task, out=str(out), **base)


# ---------------------------------------------------------------------------------------- refusals
def test_supervision_is_declared():
    assert set(MODELS.get("supersimplenet").supervision) == {"unsupervised", "weak", "full"}
    assert "full" in MODELS.get("destseg").supervision and "full" in MODELS.get("glass").supervision
    assert MODELS.get("padim").supervision == ("unsupervised",)


def test_model_without_supervision_refuses_real_defects(task, tmp_path):
    with pytest.raises(ConfigError, match="cannot use real defects"):
        train(cfg(task, tmp_path / "r", model="ae", real_defects="all"))
    with pytest.raises(ConfigError, match="weak supervision"):
        train(cfg(task, tmp_path / "r", model="destseg", real_defects="labels-only"))
    assert not (tmp_path / "r").exists()


def test_no_synthetic_needs_real_defects(task, tmp_path):
    with pytest.raises(ConfigError, match="needs real defects"):
        train(cfg(task, tmp_path / "r", synthetic=False))
    with pytest.raises(ConfigError, match="real_defects"):
        TrainConfig(model="supersimplenet", real_defects="some")


def test_no_train_defects_is_a_clear_error(tmp_path):
    from zoo_helpers import blob_dataset

    data = blob_dataset(tmp_path / "plain.h5")
    with pytest.raises(DataError, match="no defective photo"):
        train(cfg(data, tmp_path / "r", real_defects="all"))


def test_empty_mask_needs_labels_only(tmp_path):
    data = write_task(tmp_path / "e.h5", n_train=8, n_defects=2, n_test=2, empty_mask=True)
    with pytest.raises(DataError, match="empty mask"):
        train(cfg(data, tmp_path / "r", real_defects="all"))


# ---------------------------------------------------------------------------------------- data
def test_items_and_sampler(task):
    ds = ZooDataset(task, 32, seed=0, split="train", label="normal")
    n = len(ds)
    attach(ds, "train", "all", synthetic=True)
    assert len(ds) == n == 48 and len(ds.real) == 8  # the normal images' length is unchanged
    normal, real = ds[0], ds[n]
    assert int(normal["real_label"]) == 0 and not normal["real_mask"].any()
    assert int(real["real_label"]) == 1 and real["real_mask"].sum() > 0 and int(real["real_has_mask"]) == 1
    assert real["image"].shape == (1, 32, 32) and "aug_image" not in real  # no recipe: nothing to augment

    s = RealDefectSampler(n, 8, 0.25, seed=3)
    s.set_epoch(2)
    order = list(s)
    assert order == list(s) and len(order) == len(s) == 48 + 16
    assert sorted(i for i in order if i < n) == list(range(n))  # every normal image once
    counts = np.bincount([i - n for i in order if i >= n], minlength=8)
    assert counts.min() == counts.max() == 2  # every defect as often as the others
    s.set_epoch(3)
    assert list(s) != order


def test_recipe_never_paints_a_real_defect(task):
    from zoo_helpers import StandInRecipe

    ds = ZooDataset(task, 32, recipe=StandInRecipe(0.0), seed=0, split="train", label="normal")
    attach(ds, "train", "all", synthetic=True)
    real = ds[len(ds) + 1]
    assert torch.equal(real["aug_image"], real["image"]) and torch.equal(real["aug_mask"], real["real_mask"])
    assert int(ds[0]["aug_label"]) == 1  # the normal images still get the recipe's defects

    weak = ZooDataset(task, 32, seed=0, split="train", label="normal")
    attach(weak, "train", "labels-only", synthetic=False)
    item = weak[len(weak)]
    assert int(item["real_has_mask"]) == 0 and not item["real_mask"].any() and not item["aug_mask"].any()
    assert torch.equal(weak[0]["aug_image"], weak[0]["image"])  # no synthesis at all


def test_destseg_student_skips_real_defects(task):
    from adsynth.zoo import create_model

    m = create_model("destseg", image_size=32, channels=1, backbone="resnet18", pretrained=False,
                     student_width=4, student_blocks=1, seg_width=8, top_k=4)  # fmt: skip
    b = {
        "image": torch.rand(4, 1, 32, 32),
        "aug_image": torch.rand(4, 1, 32, 32),
        "aug_mask": torch.zeros(4, 1, 32, 32),
        "real_label": torch.tensor([1, 1, 1, 1]),
    }
    assert m.training_step(b, optimizer_idx=0) is None  # only real defects: nothing to denoise
    b["real_label"] = torch.tensor([0, 1, 0, 1])
    full = m.training_step({**b, "real_label": torch.zeros(4, dtype=torch.int64)}, optimizer_idx=0)
    part = m.training_step(b, optimizer_idx=0)
    assert torch.isfinite(part["loss"]) and not torch.equal(full["loss"], part["loss"])


# ---------------------------------------------------------------------------------------- training
@pytest.mark.slow
def test_real_only_baseline_learns(task, tmp_path):
    """SuperSimpleNet without any synthetic anomaly, on the 8 real defects: finds the test ellipses."""
    r = train_and_score(task, tmp_path, "supersimplenet", epochs=8, hparams=SSN, lr=1e-3,
                        real_defects="all", synthetic=False)  # fmt: skip
    assert r["result"].real_defects == 8
    assert r["pixel_auroc"] >= 0.85, r["pixel_auroc"]
    assert r["image_auroc"] >= 0.75, r["image_auroc"]


@pytest.mark.slow
def test_mixed_destseg_learns(task, tmp_path):
    """DeSTSeg with its recipe plus the real defects as extra positives of the segmentation head."""
    from zoo_helpers import StandInRecipe

    hp = {"student_width": 8, "seg_width": 16, "top_k": 20}
    r = train_and_score(task, tmp_path, "destseg", epochs=4, hparams=hp, lr=0.4, recipe=StandInRecipe(0.5),
                        real_defects="all")  # fmt: skip
    assert r["pixel_auroc"] >= 0.8, r["pixel_auroc"]


def test_weak_labels_train_and_resume_is_identical(task, tmp_path):
    """Image labels only (no masks) train, and a resumed run ends on the same weights."""
    full = train(cfg(task, tmp_path / "full", real_defects="labels-only", epochs=2))
    assert np.isfinite(list(full.metrics.values())).all()
    train(cfg(task, tmp_path / "half", real_defects="labels-only", epochs=1))
    resumed = train(TrainConfig(out=str(tmp_path / "half"), resume=True, epochs=2, device="cpu",
                                workers=0, progress=False))  # fmt: skip
    a = torch.load(full.checkpoint, weights_only=True)["state_dict"]
    b = torch.load(resumed.checkpoint, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("synthetic", [True, False])
def test_glass_takes_real_defects(task, tmp_path, synthetic):
    from zoo_helpers import StandInRecipe

    kw = {"recipe": StandInRecipe(0.5)} if synthetic else {"synthetic": False}
    r = train(cfg(task, tmp_path / "g", model="glass", hparams={"hidden": 16, "ascent_steps": 2},
                  real_defects="all", **kw))  # fmt: skip
    assert r.real_defects == 8 and np.isfinite(list(r.metrics.values())).all()
    assert ("las" in r.metrics) and (r.metrics["p_fake"] == 0) != synthetic

"""The shared parts of SimpleNet / SuperSimpleNet / GLASS (``zoo.components.synthetic_features``) and
SuperSimpleNet's supervised path: the embedding bank equals uncached training, the standardisation, the
Perlin masks, feature noise never on a real defect, the losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from zoo_helpers import blob_dataset

from adsynth.errors import ConfigError
from adsynth.zoo import create_model, load_models
from adsynth.zoo.components.synthetic_features import (
    binary_focal_loss,
    perlin_masks,
    truncated_l1,
)
from adsynth.zoo.methods.supersimplenet import synthesise
from adsynth.zoo.trainer import TrainConfig, train

load_models()


def test_perlin_masks_half_empty_and_binary():
    m = perlin_masks(400, (16, 16), np.random.default_rng(0), empty_fraction=0.5, threshold=0.2)
    assert m.shape == (400, 16, 16) and set(np.unique(m)) <= {0.0, 1.0}
    empty = (m.reshape(400, -1).max(1) == 0).mean()
    assert 0.4 < empty < 0.6
    again = perlin_masks(400, (16, 16), np.random.default_rng(0), empty_fraction=0.5, threshold=0.2)
    assert np.array_equal(m, again)
    assert perlin_masks(5, (8, 8), np.random.default_rng(1), empty_fraction=1.0).sum() == 0


def test_synthesise_never_puts_noise_on_a_real_defect():
    feats = torch.zeros(6, 4, 8, 8)
    real = torch.zeros(6, 1, 8, 8)
    real[:, :, :4] = 1  # top half of every image is a real defect
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    out, target = synthesise(
        feats, rng, gen, noise_std=1.0, threshold=-1.0, empty_fraction=0.0, real_mask=real
    )
    assert torch.all(out[:, :, :4] == 0), "noise on a real defect"
    assert torch.all(out[:, :, 4:] != 0), "threshold −1: noise everywhere else"
    assert torch.all(target == 1), "target = synthetic OR real"
    out, target = synthesise(
        feats, rng, gen, noise_std=1.0, threshold=-1.0, empty_fraction=1.0, real_mask=real
    )
    assert torch.all(out == 0) and torch.equal(target, real)


def test_truncated_l1_and_focal():
    assert truncated_l1(torch.tensor([1.0]), torch.tensor([-1.0])).item() == 0.0
    assert truncated_l1(torch.tensor([0.0]), torch.tensor([0.0])).item() == pytest.approx(1.0)
    assert truncated_l1(torch.tensor([]), torch.tensor([0.0])).item() == pytest.approx(0.5)
    good = binary_focal_loss(torch.tensor([5.0, -5.0]), torch.tensor([1.0, 0.0]))
    bad = binary_focal_loss(torch.tensor([-5.0, 5.0]), torch.tensor([1.0, 0.0]))
    assert good < 1e-6 < bad


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ConfigError, match="patch"):
        create_model("simplenet", image_size=32, pretrained=False, patch=2)
    with pytest.raises(ConfigError, match="noise_std"):
        create_model("supersimplenet", image_size=32, pretrained=False, noise_std=-1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return blob_dataset(tmp_path_factory.mktemp("d") / "blobs.h5", n_train=6, n_test=1, size=32)


def _run(data, out, cache_mb: int):
    return train(
        TrainConfig(
            model="supersimplenet",
            data=data,
            out=str(out),
            epochs=2,
            batch_size=3,
            image_size=32,
            workers=0,
            seed=0,
            device="cpu",
            progress=False,
            hparams={"hidden": 8, "cls_width": 4, "cache_mb": cache_mb},
        )
    )


def test_feature_bank_equals_uncached_training(data, tmp_path):
    """The bank (embeddings computed once, in fixed chunks) and per-batch computation train the same
    model up to the rounding of batched convolutions."""
    from adsynth.zoo.checkpoint import read_checkpoint

    a = read_checkpoint(_run(data, tmp_path / "bank", 64).checkpoint)["state_dict"]
    b = read_checkpoint(_run(data, tmp_path / "none", 0).checkpoint)["state_dict"]
    assert a.keys() == b.keys()
    for k in a:
        if a[k].is_floating_point():
            torch.testing.assert_close(a[k], b[k], rtol=1e-3, atol=1e-4, msg=k)
        else:
            assert torch.equal(a[k], b[k]), k


def test_standardisation_is_fixed_from_the_normal_images(data, tmp_path):
    from adsynth.zoo.checkpoint import load_model

    model = load_model(_run(data, tmp_path / "s", 64).checkpoint).eval()
    assert bool(model.standardised)
    from adsynth.data import DatasetReader
    from adsynth.zoo.data import ZooDataset

    ds = ZooDataset(data, 32, recipe=None, seed=0, split="train", label="normal")
    x = torch.stack([ds[i]["image"] for i in range(len(ds))])
    emb = model.embed(x)
    assert emb.mean((0, 2, 3)).abs().max() < 1e-3
    assert (emb.std((0, 2, 3)) - 1).abs().max() < 1e-2
    assert len(DatasetReader(data, split="train")) == len(ds)

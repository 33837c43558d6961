"""Numerical cores of the feature-embedding family against independent references (numpy, scikit-learn,
scipy) and the invariants each method relies on."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import binom
from sklearn.decomposition import PCA
from sklearn.linear_model import orthogonal_mp

from adsynth.zoo import create_model
from adsynth.zoo.components.features import GaussianAccumulator, concat_levels, semi_orthogonal
from adsynth.zoo.methods.a_contrario import log10_binomial_tail
from adsynth.zoo.methods.dfr import feature_cae, pca_dim
from adsynth.zoo.methods.mlf_sc import learn_dictionary, omp
from adsynth.zoo.methods.padim_som import batch_som


def test_semi_orthogonal_has_orthonormal_columns_and_is_seeded():
    w = semi_orthogonal(40, 7, torch.Generator().manual_seed(1))
    assert w.shape == (40, 7)
    torch.testing.assert_close(w.T @ w, torch.eye(7), atol=1e-5, rtol=0)
    assert torch.equal(w, semi_orthogonal(40, 7, torch.Generator().manual_seed(1)))


def test_gaussian_accumulator_equals_numpy_over_batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 3, 4)).astype(np.float32) * [1.0, 2.0, 0.5, 3.0] + 5.0
    acc = GaussianAccumulator("t")
    for s in range(0, 30, 7):
        acc.add(torch.from_numpy(x[s : s + 7]))
    mean, inv = acc.finish(0.01)
    np.testing.assert_allclose(mean.numpy(), x.mean(0), atol=1e-5)
    for p in range(3):
        ref = np.linalg.inv(np.cov(x[:, p].astype(np.float64), rowvar=False) + 0.01 * np.eye(4))
        np.testing.assert_allclose(inv[p].numpy(), ref, rtol=1e-4, atol=1e-5)


def test_concat_levels_nearest_repeats_coarse_cells():
    fine, coarse = torch.zeros(1, 1, 4, 4), torch.arange(4.0).view(1, 1, 2, 2)
    out = concat_levels([fine, coarse])
    assert out.shape == (1, 2, 4, 4)
    assert torch.equal(out[0, 1, :2, :2], torch.zeros(2, 2)) and torch.equal(
        out[0, 1, 2:, 2:], torch.full((2, 2), 3.0)
    )


def test_pca_dim_matches_sklearn():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 12)) * np.linspace(3, 0.1, 12)
    assert pca_dim(torch.from_numpy(x), 0.9) == PCA(n_components=0.9).fit(x).n_components_
    cae = feature_cae(12, 3)
    assert cae(torch.randn(5, 12)).shape == (5, 12)


def test_omp_matches_sklearn_orthogonal_mp():
    rng = np.random.default_rng(3)
    d = rng.normal(size=(20, 10))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    x = rng.normal(size=(6, 10))
    got = omp(torch.from_numpy(x), torch.from_numpy(d), 3).numpy()
    ref = orthogonal_mp(d.T, x.T, n_nonzero_coefs=3).T
    np.testing.assert_allclose(got, ref, atol=1e-4)
    assert ((got != 0).sum(1) <= 3).all()


def test_dictionary_learning_reduces_the_error_of_sparse_signals():
    gen = torch.Generator().manual_seed(0)
    atoms = torch.nn.functional.normalize(torch.randn(8, 16, generator=gen, dtype=torch.float64), dim=1)
    codes = torch.zeros(400, 8, dtype=torch.float64)
    codes.scatter_(
        1,
        torch.randint(0, 8, (400, 2), generator=gen),
        torch.randn(400, 2, generator=gen, dtype=torch.float64),
    )
    x = codes @ atoms
    first = learn_dictionary(x, 8, 2, 1, torch.Generator().manual_seed(1))
    learned = learn_dictionary(x, 8, 2, 15, torch.Generator().manual_seed(1))

    def err(d):
        return float((x - omp(x, d, 2) @ d).pow(2).mean())

    assert err(learned) < 0.5 * err(first) and err(learned) < 0.05 * float(x.pow(2).mean())


def test_batch_som_finds_clusters():
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    x = (centres.repeat(50, 1) + 0.1 * torch.randn(200, 2, generator=gen)).unsqueeze(0)
    nodes = batch_som(x, 2, 15, torch.Generator().manual_seed(1))[0]
    # Every cluster has a node within 1 of its centre.
    assert torch.cdist(centres, nodes).amin(1).max() < 1.0


def test_binomial_tail_matches_scipy():
    k, n = torch.tensor([0.0, 3.0, 40.0]), torch.tensor([10.0, 10.0, 50.0])
    got = log10_binomial_tail(k, n, 0.05).numpy()
    ref = [0.0, math.log10(binom.sf(2, 10, 0.05)), math.log10(binom.sf(39, 50, 0.05))]
    np.testing.assert_allclose(got, ref, rtol=1e-4)


def _fit(model, images):
    model.eval()
    model.fit_batch({"image": images})
    model.fit_end()
    return model


def test_spade_map_of_a_training_image_is_zero_before_blur():
    torch.manual_seed(0)
    imgs = torch.rand(6, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    m = _fit(
        create_model(
            "spade", image_size=32, channels=1, backbone="resnet18", pretrained=False, top_k=2, sigma=0
        ),
        imgs,
    )
    pred = m.predict(imgs[:2])
    assert float(pred.anomaly_map.abs().max()) < 1e-2  # each pixel finds itself in its own image
    assert float(pred.score.max()) > 0  # knn score: mean distance to 2 images, one of them itself
    other = m.predict(torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(9)))
    assert float(other.anomaly_map.mean()) > 0.1


def test_a_contrario_flags_a_bright_square_more_than_normal_noise():
    # Random-init features of noise images. Not a calibration test: neighbouring cells and components are
    # not independent, so −log10 NFA of normal images is above 0 here too (see the README).
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    m = create_model("a-contrario", image_size=64, channels=1, backbone="resnet18", pretrained=False)
    _fit(m, torch.rand(32, 1, 64, 64, generator=gen))
    normal = m.predict(torch.rand(4, 1, 64, 64, generator=gen))
    bright = torch.rand(4, 1, 64, 64, generator=gen)
    bright[:, :, 16:40, 16:40] = 1.0
    pred = m.predict(bright)
    assert float(pred.anomaly_map[:, 20:36, 20:36].mean()) > 2 * float(normal.anomaly_map.mean())
    assert bool((pred.score > normal.score.max()).all())


def test_binomial_tail_extends_to_real_counts_and_keeps_ranking_below_underflow():
    # Real-valued (k, n) from the dispersion correction: I_p(k, n − k + 1), continuous in k.
    k, n = torch.tensor([2.5, 3.0, 3.5]), torch.tensor([10.0, 10.0, 10.0])
    got = log10_binomial_tail(k, n, 0.05).numpy()
    assert got[0] > got[1] > got[2]
    # Beyond float64 underflow (P < 1e-308) the Chernoff bound keeps stronger evidence ranked higher.
    k, n = torch.tensor([3000.0, 4000.0, 5000.0]), torch.tensor([5000.0, 5000.0, 5000.0])
    got = log10_binomial_tail(k, n, 0.05).numpy()
    assert got[0] > got[1] > got[2] > -1e6
    np.testing.assert_allclose(got[2], 5000 * math.log10(0.05), rtol=1e-4)  # P(all 5000) = p^n


def test_a_contrario_dispersion_correction_lowers_normal_nfa_and_keeps_detection():
    gen = torch.Generator().manual_seed(0)
    train = torch.rand(32, 1, 64, 64, generator=gen)
    normal = torch.rand(4, 1, 64, 64, generator=gen)
    bright = torch.rand(4, 1, 64, 64, generator=gen)
    bright[:, :, 16:40, 16:40] = 1.0
    preds = {}
    for disp in (False, True):
        torch.manual_seed(0)
        m = create_model(
            "a-contrario", image_size=64, channels=1, backbone="resnet18", pretrained=False, dispersion=disp
        )
        _fit(m, train)
        preds[disp] = (m.design.clone(), m.predict(normal), m.predict(bright))
    design, normal_pred, bright_pred = preds[True]
    assert bool((preds[False][0] == 1).all()) and bool((design >= 1).all()) and float(design.max()) > 1.5
    # Correlated neighbours: on the finest grid (16 × 16 cells) the counts of 5 × 5 windows are more
    # over-dispersed than those of one cell.
    assert bool((design[0, :, -1] > design[0, :, 0]).all())
    assert float(normal_pred.anomaly_map.mean()) < float(preds[False][1].anomaly_map.mean())
    assert bool((bright_pred.score > normal_pred.score.max()).all())


def test_memseg_normal_fraction_trains_on_the_clean_image_with_an_empty_mask():
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(4, 1, 32, 32, generator=gen)
    batch = {"image": image, "aug_image": torch.rand(4, 1, 32, 32, generator=gen)}
    batch["aug_mask"] = torch.ones(4, 1, 32, 32)
    kw = dict(image_size=32, channels=1, backbone="resnet18", pretrained=False, memory_size=2)
    kw.update(widths=[4, 4, 4], head_width=2)
    losses = []
    for frac, b in (
        (0.5, batch),
        (
            0.0,
            {
                **batch,
                "aug_image": torch.cat([image[:2], batch["aug_image"][2:]]),
                "aug_mask": torch.cat([torch.zeros(2, 1, 32, 32), batch["aug_mask"][2:]]),
            },
        ),
        (0.0, batch),
    ):
        torch.manual_seed(0)
        m = create_model("memseg", normal_fraction=frac, **kw).train()
        losses.append(float(m.training_step(b)["loss"].detach()))
    assert losses[0] == losses[1]  # the first half of the batch became normal samples
    assert losses[0] != losses[2]

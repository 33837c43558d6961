"""The numerical cores of PatchCore, PaDiM and CutPaste against independent references (numpy, scipy,
scikit-learn), and the fitted-state round trip of each model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.covariance import LedoitWolf

from adsynth.zoo import create_model
from adsynth.zoo.methods.cutpaste import gde_fit, gde_score, ledoit_wolf
from adsynth.zoo.methods.cutpaste.model import patch_starts
from adsynth.zoo.methods.padim import mahalanobis
from adsynth.zoo.methods.padim.model import default_feature_count
from adsynth.zoo.methods.patchcore import greedy_coreset, nearest_distances


def _greedy_reference(x: np.ndarray, k: int, start: int) -> list[int]:
    """Plain-loop k-center greedy."""
    chosen = [start]
    for _ in range(k - 1):
        d = np.min([[np.linalg.norm(p - x[c]) for c in chosen] for p in x], axis=1)
        chosen.append(int(np.argmax(d)))
    return chosen


def _covering_radius(x: np.ndarray, idx) -> float:
    return float(cdist(x, x[np.asarray(idx)]).min(1).max())


# ------------------------------------------------------------------------------------------- PatchCore
def test_coreset_is_exact_k_center_greedy_on_a_tiny_case():
    x = np.random.default_rng(0).normal(size=(40, 5))
    got = greedy_coreset(
        torch.from_numpy(x), 7, projection_dim=None, generator=torch.Generator().manual_seed(3)
    )
    assert got.tolist() == _greedy_reference(x, 7, start=int(got[0]))
    assert len(set(got.tolist())) == 7


def test_coreset_covers_better_than_random_subsets():
    rng = np.random.default_rng(1)
    # Clusters of very different sizes: a random subset misses the small ones, k-center greedy does not.
    centres = rng.normal(scale=10, size=(8, 256))
    sizes = [400, 200, 100, 50, 20, 10, 5, 3]
    x = np.concatenate([c + rng.normal(size=(n, 256)) for c, n in zip(centres, sizes, strict=True)])
    k = 40
    idx = greedy_coreset(
        torch.from_numpy(x).float(), k, projection_dim=128, generator=torch.Generator().manual_seed(0)
    )
    greedy = _covering_radius(x, idx.numpy())
    random_radii = [_covering_radius(x, rng.choice(len(x), k, replace=False)) for _ in range(20)]
    assert greedy < min(random_radii)
    assert len(np.unique(idx.numpy())) == k


def test_nearest_distances_match_brute_force():
    rng = np.random.default_rng(2)
    q, m = rng.normal(size=(300, 32)), rng.normal(size=(500, 32))
    dist, idx = nearest_distances(torch.from_numpy(q), torch.from_numpy(m), k=3)
    ref = cdist(q, m)
    order = np.argsort(ref, axis=1)[:, :3]
    np.testing.assert_array_equal(idx.numpy(), order)
    np.testing.assert_allclose(dist.numpy(), np.take_along_axis(ref, order, 1), rtol=1e-9, atol=1e-9)


def _fitted(name: str, channels: int = 3, **hparams):
    torch.manual_seed(0)
    model = create_model(
        name, image_size=64, channels=channels, backbone="resnet18", pretrained=False, **hparams
    )
    gen = torch.Generator().manual_seed(0)
    train = torch.rand(12, channels, 64, 64, generator=gen)
    for chunk in train.split(5):  # uneven batches exercise the streaming statistics
        model.fit_batch({"image": chunk})
    model.fit_end()
    return model.eval(), train, torch.rand(3, channels, 64, 64, generator=gen)


def test_patchcore_scores_equal_a_numpy_reference():
    model, train, test = _fitted("patchcore", coreset_ratio=0.25)
    n_patches = len(train) * 8 * 8  # layer2 of a 64 px image is 8×8
    assert model.memory_bank.shape == (int(np.ceil(0.25 * n_patches)), 384)
    emb = model.embed(test).numpy().reshape(len(test), -1, 384).astype(np.float64)
    bank = model.memory_bank.numpy().astype(np.float64)
    expected = np.stack([cdist(e, bank).min(1).max() for e in emb])
    np.testing.assert_allclose(model.predict(test).score.numpy(), expected, rtol=1e-4)


def test_patchcore_reweighted_score_equals_the_paper_formula():
    model, _, test = _fitted("patchcore", coreset_ratio=0.25, score="reweight", reweight_neighbors=5)
    emb = model.embed(test).numpy().reshape(len(test), -1, 384).astype(np.float64)
    bank = model.memory_bank.numpy().astype(np.float64)
    expected = []
    for e in emb:
        d = cdist(e, bank)
        worst = int(d.min(1).argmax())
        s_star, m_star = d[worst].min(), int(d[worst].argmin())
        hood = np.argsort(cdist(bank[m_star : m_star + 1], bank)[0])[:5]
        expected.append((1 - np.exp(s_star) / np.exp(d[worst, hood]).sum()) * s_star)
    np.testing.assert_allclose(model.predict(test).score.numpy(), expected, rtol=1e-4)


# ------------------------------------------------------------------------------------------- PaDiM
def test_mahalanobis_matches_scipy():
    from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

    rng = np.random.default_rng(3)
    x, mean = rng.normal(size=(4, 6, 5)), rng.normal(size=(6, 5))
    a = rng.normal(size=(6, 5, 5))
    inv = np.linalg.inv(a @ a.transpose(0, 2, 1) + np.eye(5))
    got = mahalanobis(*(torch.from_numpy(v) for v in (x, mean, inv))).numpy()
    expected = [[scipy_mahalanobis(x[b, p], mean[p], inv[p]) for p in range(6)] for b in range(4)]
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_padim_statistics_equal_numpy_cov_plus_eps():
    model, train, test = _fitted("padim", channels=1)
    assert model.channel_idx.shape == (100,) and default_feature_count(448) == 100
    assert default_feature_count(1792) == 550
    emb = model.embed(train).numpy().astype(np.float64)  # N×16×16×100
    n, h, w, d = emb.shape
    x = emb.reshape(n, h * w, d)
    np.testing.assert_allclose(model.mean.numpy().reshape(h * w, d), x.mean(0), rtol=1e-5, atol=1e-5)
    for p in (0, 37, h * w - 1):
        inv = np.linalg.inv(np.cov(x[:, p], rowvar=False) + 0.01 * np.eye(d))
        np.testing.assert_allclose(model.inv_cov.numpy().reshape(h * w, d, d)[p], inv, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="feature grid"):
        model.predict(torch.rand(1, 1, 96, 96))


# ------------------------------------------------------------------------------------------- CutPaste
def test_ledoit_wolf_and_gde_match_sklearn():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 20)) * np.linspace(0.1, 3, 20)
    lw = LedoitWolf().fit(x)
    mean, cov = ledoit_wolf(torch.from_numpy(x))
    np.testing.assert_allclose(mean.numpy(), lw.location_, atol=1e-12)
    np.testing.assert_allclose(cov.numpy(), lw.covariance_, rtol=1e-10, atol=1e-12)
    mean, precision = gde_fit(torch.from_numpy(x))
    np.testing.assert_allclose(precision.numpy(), lw.precision_, rtol=1e-6, atol=1e-8)
    q = rng.normal(size=(7, 20))
    np.testing.assert_allclose(
        gde_score(torch.from_numpy(q), mean, precision).numpy(), np.sqrt(lw.mahalanobis(q)), rtol=1e-8
    )


def test_cutpaste_gde_is_fitted_on_normalised_embeddings():
    torch.manual_seed(0)
    model = create_model("cutpaste", image_size=64, channels=3).eval()
    train = torch.rand(10, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    model.fit_batch({"image": train})
    model.fit_end()
    with torch.no_grad():
        emb = torch.nn.functional.normalize(model.embed(train), dim=1).double().numpy()
    lw = LedoitWolf().fit(emb)
    np.testing.assert_allclose(model.image_mean.numpy(), lw.location_, atol=1e-6)
    np.testing.assert_allclose(model.image_precision.numpy(), lw.precision_, rtol=1e-3, atol=1e-2)


def test_patch_offsets_cover_every_pixel():
    assert patch_starts(64, 32, 8) == [0, 8, 16, 24, 32]
    assert patch_starts(70, 32, 16) == [0, 16, 32, 38]
    assert patch_starts(32, 32, 8) == [0]


# ------------------------------------------------------------------------------------------- all three
@pytest.mark.parametrize("name", ["patchcore", "padim", "cutpaste"])
def test_fitted_state_loads_into_a_model_built_from_its_config(name):
    torch.manual_seed(0)
    model = create_model(name, image_size=64, channels=1, backbone="resnet18", pretrained=False)
    model.eval()
    model.fit_batch({"image": torch.rand(6, 1, 64, 64)})
    model.fit_end()
    fresh = create_model(name, **model.config())
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    x = torch.rand(2, 1, 64, 64)
    a, b = model.predict(x), fresh.predict(x)
    assert a.anomaly_map.shape == (2, 64, 64)
    torch.testing.assert_close(a.anomaly_map, b.anomaly_map, rtol=0, atol=0)
    torch.testing.assert_close(a.score, b.score, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["patchcore", "padim", "cutpaste"])
def test_predict_before_fitting_says_so(name):
    model = create_model(name, image_size=64, channels=3, backbone="resnet18", pretrained=False).eval()
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(torch.rand(1, 3, 64, 64))

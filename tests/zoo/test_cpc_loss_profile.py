"""Unit tests of cpc (patch-wise InfoNCE, patch grids, row-causal context, bank-based scores) and
loss-profile (snapshot schedule, snapshot weights, the profile density)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from adsynth.errors import ConfigError
from adsynth.zoo import create_model
from adsynth.zoo.components.infonce import grid_patches, info_nce_per_anchor, patches_to_map, sample_rows
from adsynth.zoo.methods.loss_profile.model import LOG_EPS, snapshot_epochs


# ---------------------------------------------------------------------------------------------- InfoNCE
def test_info_nce_equals_a_hand_computed_softmax():
    preds = torch.tensor([[1.0, 0.0], [0.5, -1.0]])
    pos = torch.tensor([[2.0, 1.0], [0.0, 1.0]])
    neg = torch.tensor([[1.0, 1.0], [-1.0, 0.0], [0.0, 3.0]])
    got = info_nce_per_anchor(preds, pos, neg)
    expected = []
    for p, z in zip(preds.numpy(), pos.numpy(), strict=True):
        logits = np.array([p @ z] + [p @ n for n in neg.numpy()])
        expected.append(-np.log(np.exp(logits[0]) / np.exp(logits).sum()))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    # Row 0: logits 2, 1, −1, 0 → −log(e² / (e² + e + e⁻¹ + 1)).
    e = np.e
    assert got[0].item() == pytest.approx(-np.log(e**2 / (e**2 + e + 1 / e + 1)), rel=1e-6)


def test_sample_rows_is_seeded_and_without_replacement():
    x = torch.arange(20.0).view(10, 2)
    a = sample_rows(x, 4, torch.Generator().manual_seed(3))
    b = sample_rows(x, 4, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and len(a) == 4 and len(set(a[:, 0].tolist())) == 4
    assert torch.equal(sample_rows(x, 50, torch.Generator()), x)


# ---------------------------------------------------------------------------------------------- grids
def test_grid_patches_are_the_overlapping_crops():
    x = torch.rand(2, 3, 16, 16)
    p = grid_patches(x, 8, 4)
    assert p.shape == (2, 3, 3, 3, 8, 8)
    torch.testing.assert_close(p[1, 2, 1], x[1, :, 8:16, 4:12], rtol=0, atol=0)


def test_patches_to_map_is_local_and_averages_overlaps():
    v = torch.zeros(1, 3, 3)
    v[0, 0, 0] = 1.0
    amap = patches_to_map(v, (16, 16), 8, 4)
    assert amap.shape == (1, 16, 16)
    assert (amap[0, :4, :4] == 1).all()  # covered by patch (0, 0) only
    assert (amap[0, 4:8, :4] == 0.5).all()  # patches (0, 0) and (1, 0)
    assert (amap[0, 8:, :] == 0).all() and (amap[0, :, 8:] == 0).all()
    # A grid that stops short of the border: the border takes the nearest patch's value.
    assert patches_to_map(torch.ones(1, 3, 3), (18, 18), 8, 4).eq(1).all()


# ---------------------------------------------------------------------------------------------- cpc
def small_cpc(**kw):
    cfg = dict(image_size=32, channels=1, patch_size=8, widths=[4], dim=8, steps=2, bank_size=64)
    return create_model("cpc", **{**cfg, **kw})


def test_cpc_context_is_row_causal():
    torch.manual_seed(0)
    m = small_cpc(context_layers=3)
    z = torch.randn(2, 8, 7, 7)
    z2 = z.clone()
    z2[:, :, 4:] = torch.randn(2, 8, 3, 7)
    c, c2 = m.context(z), m.context(z2)
    torch.testing.assert_close(c[:, :, :4], c2[:, :, :4], rtol=0, atol=0)
    assert not torch.allclose(c[:, :, 4:], c2[:, :, 4:])


def test_cpc_pairs_target_the_rows_below():
    m = small_cpc(steps=3)
    z = torch.randn(1, 8, 7, 7)
    pairs = m.pairs(z)
    assert [len(p) for p, _ in pairs] == [6 * 7, 5 * 7, 4 * 7]
    torch.testing.assert_close(pairs[1][1][0], z[0, :, 2, 0])  # step 2, source (0, 0) → target (2, 0)


def test_cpc_test_scores_do_not_depend_on_the_batch_and_use_the_bank():
    torch.manual_seed(0)
    m = small_cpc()
    x = torch.rand(4, 1, 32, 32)
    m.fit_batch({"image": x})
    m.fit_end()
    m.eval()
    assert m.bank.shape == (64, 8)  # 4 images × 49 patches sampled down to bank_size
    full = m.predict(x)
    one = m.predict(x[2:3])
    torch.testing.assert_close(one.anomaly_map[0], full.anomaly_map[2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(one.score[0], full.score[2], rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        losses = m.patch_losses(x[:1])
        z = m.embed(x[:1])
        (pred, tgt), step2_pair = m.pairs(z)
        by_hand = info_nce_per_anchor(pred, tgt, m.bank).view(6, 7)  # step 1 only targets row 1
        step2 = info_nce_per_anchor(*step2_pair, m.bank).view(5, 7)
    torch.testing.assert_close(losses[0, 1], by_hand[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(losses[0, 3], (by_hand[2] + step2[1]) / 2, rtol=1e-5, atol=1e-6)
    assert full.score[0] == pytest.approx(float(losses.max()), rel=1e-5)  # default score: the max
    m._hparams["score"] = "mean"
    assert m.predict(x[:1]).score[0] == pytest.approx(float(losses.mean()), rel=1e-5)


def test_cpc_needs_a_fit_and_validates():
    with pytest.raises(RuntimeError, match="not fitted"):
        small_cpc().eval().predict(torch.rand(1, 1, 32, 32))
    with pytest.raises(ConfigError, match="steps"):
        small_cpc(steps=7)
    with pytest.raises(ConfigError, match="score"):
        small_cpc(score="median")
    with pytest.raises(ConfigError, match="patch_size"):
        small_cpc(patch_size=64)


# ---------------------------------------------------------------------------------------------- loss-profile
def small_profile(**kw):
    cfg = dict(image_size=16, channels=1, widths=[4, 8], latent=2, snapshots=3, cell=4)
    return create_model("loss-profile", **{**cfg, **kw})


def test_snapshot_schedule():
    assert snapshot_epochs(4, 10) == [2, 5, 8, 10]
    assert snapshot_epochs(2, 2) == [1, 2]
    assert snapshot_epochs(1, 7) == [7]


def test_snapshots_are_taken_on_schedule_and_replayed_exactly():
    torch.manual_seed(0)
    m = small_profile()
    with pytest.raises(ConfigError, match="snapshots"):
        m.on_epoch_start(0, 2)
    m.on_epoch_start(0, 6)
    assert not m.snapshot_taken.any()
    m.on_epoch_start(2, 6)  # after 2 epochs: slot 0
    assert m.snapshot_taken.tolist() == [True, False, False]
    early = copy.deepcopy(m.net)
    with torch.no_grad():
        for p in m.net.parameters():
            p.add_(0.5)
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        prof = m.profiles(x)
    assert prof.shape == (2, 16, 3)
    by_hand = torch.log(torch.nn.functional.avg_pool2d((early(x) - x).square(), 4) + LOG_EPS).flatten(1)
    torch.testing.assert_close(prof[..., 0], by_hand, rtol=1e-5, atol=1e-6)
    # Slot 1 was never taken and slot 2 is the final model: both use the current weights.
    torch.testing.assert_close(prof[..., 1], prof[..., 2], rtol=0, atol=0)
    assert not torch.allclose(prof[..., 0], prof[..., 2])


@pytest.mark.parametrize("density", ["position", "shared"])
def test_profile_density_is_the_gaussian_of_the_training_profiles(density):
    torch.manual_seed(0)
    m = small_profile(density=density, eps=0.01)
    m.on_epoch_start(1, 3)
    with torch.no_grad():
        for p in m.net.parameters():
            p.mul_(1.3)
    m.on_epoch_start(2, 3)
    x = torch.rand(40, 1, 16, 16)
    m.fit_batch({"image": x[:25]})
    m.fit_batch({"image": x[25:]})
    m.fit_end()
    prof = m.profiles(x).detach().double().numpy()  # 40×16×3
    samples = prof.reshape(-1, 1, 3) if density == "shared" else prof
    for pos in range(samples.shape[1]):
        s = samples[:, pos]
        np.testing.assert_allclose(m.profile_mean[pos].numpy(), s.mean(0), rtol=1e-4, atol=1e-5)
        inv = np.linalg.inv(np.cov(s, rowvar=False) + 0.01 * np.eye(3))
        np.testing.assert_allclose(m.profile_inv_cov[pos].numpy(), inv, rtol=2e-3, atol=2e-3)
    # A test profile's distance: sqrt((x − μ)ᵀ Σ⁻¹ (x − μ)); an image far from normal scores higher.
    m.eval()
    normal = m.predict(x[:4]).score
    odd = x[:4].clone()
    odd[:, :, 4:12, 4:12] = 1.0 - odd[:, :, 4:12, 4:12] * 0.1
    assert (m.predict(odd).score > normal).all()


def test_loss_profile_validates():
    with pytest.raises(ConfigError, match="density"):
        small_profile(density="knn")
    with pytest.raises(ConfigError, match="image_size"):
        small_profile(image_size=18)
    with pytest.raises(RuntimeError, match="not fitted"):
        small_profile().eval().predict(torch.rand(1, 1, 16, 16))

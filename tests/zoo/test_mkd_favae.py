"""Unit tests of MKD's and FAVAE's own behaviour: the value + direction loss against hand computations,
the batched input-gradient map, the morphological opening against OpenCV, the cloner's and the VAE's
read-out shapes, FAVAE's loss and map against hand computations, and parameter checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from adsynth.errors import ConfigError
from adsynth.zoo import create_model
from adsynth.zoo.components.cloner import ClonerNet, grey_opening, input_gradient_map, value_direction_loss


def test_value_direction_loss_matches_a_hand_computation():
    # level 1: orthogonal unit vectors (cos 0), squared differences (1, 1) → 1 + λ·1
    # level 2: opposite vectors (cos −1), differences (2, 4) → 2 + λ·(4 + 16)/2
    pred = [torch.tensor([1.0, 0.0]).view(1, 2, 1, 1), torch.tensor([1.0, 2.0]).view(1, 1, 1, 2)]
    target = [torch.tensor([0.0, 1.0]).view(1, 2, 1, 1), torch.tensor([-1.0, -2.0]).view(1, 1, 1, 2)]
    lam = 0.5
    expected = (1.0 + lam * 1.0) + (2.0 + lam * 10.0)
    assert value_direction_loss(pred, target, lam).item() == pytest.approx(expected)


def test_direction_term_is_zero_for_scaled_features_and_the_value_term_is_not():
    torch.manual_seed(0)
    target = [torch.randn(3, 5, 4, 4), torch.randn(3, 7, 2, 2)]
    pred = [2.5 * t for t in target]
    assert value_direction_loss(pred, target, lam=0.0).abs().max().item() < 1e-6
    expected = 0.3 * sum((1.5 * t).pow(2).flatten(1).mean(1) for t in target)
    torch.testing.assert_close(value_direction_loss(pred, target, lam=0.3), expected)


def test_the_direction_is_taken_over_the_whole_map_not_per_position():
    """A map whose positions are each scaled differently has a direction loss > 0 (per-position cosines
    would all be 1)."""
    t = torch.ones(1, 2, 1, 2)
    p = t * torch.tensor([1.0, 3.0]).view(1, 1, 1, 2)
    cos = (1 + 3) * 2 / (math.sqrt(2 * 2) * math.sqrt(2 * (1 + 9)))
    assert value_direction_loss([p], [t], 0.0).item() == pytest.approx(1 - cos)


def test_input_gradient_map_localises_a_planted_change_and_works_under_inference_mode():
    ref = torch.rand(2, 3, 16, 16)
    x = ref.clone()
    x[1, :, 4:7, 9:12] += 0.5

    def loss(images):
        return (images - ref).pow(2).sum((1, 2, 3))

    with torch.inference_mode():
        score, grad = input_gradient_map(loss, x)
    assert score[0].item() == 0 and score[1].item() == pytest.approx(27 * 0.25)
    assert grad[0].abs().max().item() == 0
    planted = torch.zeros(16, 16, dtype=torch.bool)
    planted[4:7, 9:12] = True
    assert (grad[1][planted] > 0).all() and (grad[1][~planted] == 0).all()
    torch.testing.assert_close(grad[1][planted], torch.full((9,), 3.0))  # Σ_c |2·0.5|


def test_mkd_batched_gradient_maps_equal_per_image_maps():
    torch.manual_seed(0)
    m = create_model("mkd", image_size=64, channels=3, width=8).eval()
    x = torch.rand(3, 3, 64, 64)
    with torch.inference_mode():
        both = m.predict(x)
        single = [m.predict(x[i : i + 1]) for i in range(3)]
    torch.testing.assert_close(both.score, torch.cat([s.score for s in single]))
    # batched convolutions round differently; the gradients agree to a fraction of a percent
    amaps = torch.cat([s.anomaly_map for s in single])
    torch.testing.assert_close(both.anomaly_map, amaps, rtol=1e-2, atol=1e-3 * amaps.max().item())
    assert all(p.grad is None for p in m.parameters())
    # the score is the loss of the deepest three levels only
    k = 3
    src = m.features(x)[-k:]
    with torch.no_grad():
        expected = value_direction_loss(m(x)[-k:], src, 0.5)
    torch.testing.assert_close(both.score, expected)


def test_mkd_discrepancy_map_is_the_per_position_loss_with_the_same_score():
    torch.manual_seed(0)
    kw = {"image_size": 64, "channels": 1, "width": 4, "sigma": 0.0, "opening": False, "lamda": 0.25}
    grad = create_model("mkd", **kw).eval()
    disc = create_model("mkd", **kw, anomaly_map="discrepancy").eval()
    disc.load_state_dict(grad.state_dict())
    x = torch.rand(2, 1, 64, 64)
    with torch.inference_mode():
        pg, pd = grad.predict(x), disc.predict(x)
    torch.testing.assert_close(pg.score, pd.score)
    src, pred = disc.features(x)[-3:], disc(x)[-3:]
    expected = torch.zeros(2, 64, 64)
    for p, t in zip(pred, src, strict=True):
        e = 1 - torch.nn.functional.cosine_similarity(p, t, dim=1) + 0.25 * (p - t).pow(2).mean(1)
        expected += torch.nn.functional.interpolate(e[:, None], size=(64, 64), mode="bilinear")[:, 0]
    torch.testing.assert_close(pd.anomaly_map, expected.detach())


def test_grey_opening_equals_opencv_binary_opening_at_every_threshold():
    import cv2

    rng = np.random.default_rng(0)
    maps = torch.from_numpy(rng.random((2, 12, 15)).astype(np.float32))
    opened = grey_opening(maps).numpy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    for thr in (0.2, 0.5, 0.8):
        for b in range(2):
            binary = (maps[b].numpy() >= thr).astype(np.uint8)
            ref = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
            np.testing.assert_array_equal((opened[b] >= thr).astype(np.uint8), ref)


def test_cloner_reads_out_the_source_levels_at_their_strides():
    m = create_model("mkd", image_size=64, channels=1, width=4)
    assert m.feature_strides == [4, 8, 16, 32]
    feats = m(torch.rand(2, 1, 64, 64))
    src = m.features(torch.rand(2, 1, 64, 64))
    assert [tuple(f.shape) for f in feats] == [tuple(s.shape) for s in src]
    with pytest.raises(ValueError, match="strides"):
        ClonerNet(3, [4, 8], [8, 4])


def test_favae_loss_matches_a_hand_computation():
    torch.manual_seed(0)
    m = create_model("favae", image_size=32, channels=1, width=4, latent_dim=3, kld_weight=0.7)
    m.train()
    x = torch.rand(2, 1, 32, 32)
    torch.manual_seed(1)
    out = m.training_step({"image": x})
    torch.manual_seed(1)
    eps = torch.randn(2, 3)
    mu, logvar = m.vae.encode(x)
    rec, feats = m(x, mu + eps * (0.5 * logvar).exp())
    teacher = m.features(x)
    rec_term = ((rec - x) ** 2).sum() / 2
    feat_terms = [((f - t) ** 2).sum() / 2 for f, t in zip(feats, teacher, strict=True)]
    kl = (
        sum(0.5 * (mu[b, j] ** 2 + logvar[b, j].exp() - 1 - logvar[b, j]) for b in range(2) for j in range(3))
        / 2
    )
    torch.testing.assert_close(out["rec"], rec_term.detach())
    torch.testing.assert_close(out["kl"], kl.detach())
    torch.testing.assert_close(out["loss"], rec_term + sum(feat_terms) + 0.7 * kl, rtol=1e-5, atol=1e-4)


def test_favae_taps_match_the_teacher_and_the_map_adds_its_terms():
    torch.manual_seed(0)
    m = create_model("favae", image_size=64, channels=3, width=4, latent_dim=4, sigma=0.0).eval()
    x = torch.rand(2, 3, 64, 64)
    teacher = m.features(x)
    with torch.no_grad():
        rec, feats = m(x)
    assert [f.shape for f in feats] == [t.shape for t in teacher]
    # a 1×1 feature error on the coarsest level spreads over its 16×16 cell, bilinearly
    amap = m.predict(x).anomaly_map
    expected = (rec - x).pow(2).sum(1)
    for f, t in zip(feats, teacher, strict=True):
        e = (f - t).pow(2).sum(1, keepdim=True)
        expected = expected + torch.nn.functional.interpolate(e, size=(64, 64), mode="bilinear")[:, 0]
    torch.testing.assert_close(amap, expected)
    torch.testing.assert_close(m.predict(x).score, expected.flatten(1).amax(1))  # deterministic: z = μ


@pytest.mark.parametrize(
    ("model", "kw", "word"),
    [
        ("mkd", {"lamda": -1}, "lamda"),
        ("mkd", {"score_levels": 5}, "score_levels"),
        ("mkd", {"width": 0}, "width"),
        ("mkd", {"anomaly_map": "grad"}, "anomaly_map"),
        ("favae", {"image_size": 40}, "image_size"),
        ("favae", {"layers": (2, 3, 4)}, "layers"),
        ("favae", {"kld_weight": -0.1}, "kld_weight"),
    ],
)
def test_bad_hyper_parameters_raise_config_errors(model, kw, word):
    cfg = {"image_size": 64, "channels": 1, **kw}
    with pytest.raises(ConfigError, match=word):
        create_model(model, **cfg)

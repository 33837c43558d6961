"""Unit tests of the shared one-class and contrastive parts (zoo.components.oneclass / contrastive)."""

from __future__ import annotations

import torch

from adsynth.zoo import create_model
from adsynth.zoo.components.contrastive import info_nce, simsiam_loss
from adsynth.zoo.components.oneclass import (
    distribute_scores,
    hsc_loss,
    knn_distance,
    logistic_intensity_target,
    pseudo_huber,
    receptive_upsample,
    svdd_center,
)


def test_hsc_loss_pulls_normal_and_pushes_anomalous_pixels():
    low, high = torch.full((1, 2, 2), 0.01), torch.full((1, 2, 2), 5.0)
    zeros, ones = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    assert hsc_loss(low, zeros) < hsc_loss(high, zeros)
    assert hsc_loss(high, ones) < hsc_loss(low, ones)
    assert torch.isfinite(hsc_loss(torch.zeros(1, 2, 2), ones))
    assert torch.allclose(pseudo_huber(torch.tensor([0.0, 3.0])), torch.tensor([0.0, 10**0.5 - 1]))


def test_receptive_upsample_keeps_constants_and_places_peaks():
    flat = receptive_upsample(torch.full((2, 4, 4), 3.0), (32, 32), 4.0)
    assert flat.shape == (2, 32, 32) and torch.allclose(flat, torch.full_like(flat, 3.0), atol=1e-4)
    heat = torch.zeros(1, 4, 4)
    heat[0, 1, 2] = 1
    up = receptive_upsample(heat, (32, 32), 3.0)[0]
    y, x = divmod(int(up.argmax()), 32)
    assert 8 <= y < 16 and 16 <= x < 24


def test_svdd_center_moves_small_coordinates_away_from_zero():
    c = svdd_center(torch.tensor([[0.01, -0.02, 1.0], [0.01, -0.02, 3.0]]), eps=0.1)
    assert torch.allclose(c, torch.tensor([0.1, -0.1, 2.0]))


def test_knn_distance_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    q, bank = torch.randn(50, 5, generator=g), torch.randn(70, 5, generator=g)
    brute = torch.cdist(q, bank).sort(1).values[:, :3].mean(1)
    assert torch.allclose(knn_distance(q, bank, k=3, chunk=7), brute, atol=1e-5)


def test_distribute_scores_averages_overlapping_patches():
    scores = torch.tensor([[[1.0, 3.0]]])  # one row, two patches of 4 px at x = 0 and 2
    amap = distribute_scores(scores, [0], [0, 2], 4, (4, 6))
    assert torch.allclose(amap[0, 0], torch.tensor([1.0, 1.0, 2.0, 2.0, 3.0, 3.0]))


def test_logistic_target_is_zero_outside_the_mask_and_grows_with_change():
    image = torch.zeros(2, 1, 16, 16)
    aug = image.clone()
    aug[0, :, 4:12, 4:12] = 10 / 255
    aug[1, :, 4:12, 4:12] = 60 / 255
    mask = (aug > 0).float()
    t = logistic_intensity_target(image, aug, mask, k=1 / 6, x0=20.0, radius=1)
    assert t[:, :, :4].abs().max() == 0
    assert t[0, 0, 8, 8] < 0.5 < t[1, 0, 8, 8]


def test_contrastive_losses():
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(8, 4, generator=g), dim=1)
    valid = torch.ones(8)
    assert info_nce(a, a, valid, 0.1) < info_nce(a, a.roll(1, 0), valid, 0.1)
    assert torch.isclose(simsiam_loss(a, a, valid), torch.tensor(-1.0))
    # Rows without a positive do not count as anchors.
    assert torch.isclose(info_nce(a, a.roll(1, 0), torch.zeros(8), 0.1), torch.tensor(0.0))


def test_deep_svdd_gradient_map_runs_under_inference_mode():
    m = create_model("deep-svdd", image_size=32, channels=1, widths=(4, 8), rep_dim=8, anomaly_map="gradient")
    m.training_step({"image": torch.rand(2, 1, 32, 32)})
    with torch.inference_mode():
        pred = m.eval().predict(torch.rand(2, 1, 32, 32))
    assert pred.anomaly_map.shape == (2, 32, 32) and torch.isfinite(pred.anomaly_map).all()
    assert bool(m.center_set) and (m.center.abs() >= 0.1).all()


def test_fcdd_freezes_the_stem_and_first_stage():
    m = create_model("fcdd", image_size=64, backbone="resnet18", pretrained=False, width=8)
    frozen = {n for n, p in m.backbone.body.named_parameters() if not p.requires_grad}
    assert "conv1.weight" in frozen and any(n.startswith("layer1.") for n in frozen)
    assert not any(n.startswith("layer2.") for n in frozen)

"""Units of ``zoo/components/flows.py`` and ``zoo/components/distillation.py``: invertibility and exact
log-determinants of the FrEIA flows and of CS-Flow's cross-scale coupling, seeded permutations, the
positional encoding, feature distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adsynth.zoo.components.distillation import (
    combine_maps,
    cosine_distance_maps,
    normalized_sq_distance_maps,
)
from adsynth.zoo.components.flows import (
    build_flow,
    conv_subnet,
    fc_subnet,
    gaussian_log_likelihood,
    positional_encoding_2d,
    run_flow,
)


@pytest.mark.parametrize("soft", [False, True])
def test_fc_flow_inverts_and_its_log_det_is_exact(soft):
    torch.manual_seed(0)
    flow = build_flow((4,), 3, fc_subnet(2.0), clamp=1.9, cond_dims=2, seed=1, permute_soft=soft).double()
    x, c = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    z, log_det = flow(x, c=[c])
    back, _ = flow(z, c=[c], rev=True)
    torch.testing.assert_close(back, x)
    for i in range(3):
        jac = torch.autograd.functional.jacobian(lambda v, i=i: flow(v[None], c=[c[i : i + 1]])[0][0], x[i])
        torch.testing.assert_close(log_det[i], torch.linalg.slogdet(jac)[1])


def test_conv_flow_keeps_shape_and_inverts():
    torch.manual_seed(0)
    flow = build_flow((4, 5, 5), 2, [conv_subnet(3, 1.0), conv_subnet(1, 1.0)], clamp=2.0)
    x = torch.randn(2, 4, 5, 5)
    z, log_det = run_flow(flow, x)
    assert z.shape == x.shape and log_det.shape == (2,)
    torch.testing.assert_close(flow(z, rev=True)[0], x, atol=1e-5, rtol=1e-5)


def test_permutations_are_seeded_and_leave_numpy_global_state_alone():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    a = build_flow((6,), 2, fc_subnet(), clamp=2.0, seed=5, permute_soft=True)
    assert np.random.rand() == expected
    b = build_flow((6,), 2, fc_subnet(), clamp=2.0, seed=5, permute_soft=True)
    c = build_flow((6,), 2, fc_subnet(), clamp=2.0, seed=6, permute_soft=True)
    w = [f.module_list[0].w_perm.flatten() for f in (a, b, c)]
    torch.testing.assert_close(w[0], w[1], rtol=0, atol=0)
    assert not torch.equal(w[0], w[2])
    rot = a.module_list[1].w_perm.view(6, 6).double()
    torch.testing.assert_close(rot @ rot.T, torch.eye(6, dtype=torch.float64), atol=1e-6, rtol=0)
    assert torch.det(rot) > 0


def test_gaussian_log_likelihood_of_the_identity_is_the_standard_normal_density():
    z = torch.randn(4, 3)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    torch.testing.assert_close(gaussian_log_likelihood(z, torch.zeros(4)), expected)


def test_positional_encoding():
    pe = positional_encoding_2d(8, 3, 5)
    assert pe.shape == (8, 3, 5)
    torch.testing.assert_close(pe[0, 0], torch.sin(torch.arange(5.0)))  # column, lowest frequency
    torch.testing.assert_close(pe[5, :, 0], torch.cos(torch.arange(3.0)))  # row
    assert torch.equal(pe[:4, 0], pe[:4, 2]) and torch.equal(pe[4:, :, 0], pe[4:, :, 4])
    with pytest.raises(ValueError, match="multiple of 4"):
        positional_encoding_2d(6, 2, 2)


def test_feature_distances_and_map_combination():
    a = torch.randn(2, 5, 4, 4)
    assert torch.allclose(cosine_distance_maps([a], [3 * a])[0], torch.zeros(2, 4, 4), atol=1e-6)
    torch.testing.assert_close(cosine_distance_maps([a], [-a])[0], torch.full((2, 4, 4), 2.0))
    # ½‖â − b̂‖² = 1 − cos for unit vectors
    b = torch.randn(2, 5, 4, 4)
    torch.testing.assert_close(normalized_sq_distance_maps([a], [b])[0], cosine_distance_maps([a], [b])[0])
    m = [torch.ones(1, 2, 2), torch.full((1, 4, 4), 3.0)]
    assert torch.equal(combine_maps(m, (8, 8), "sum"), torch.full((1, 8, 8), 4.0))
    assert torch.equal(combine_maps(m, (8, 8), "product"), torch.full((1, 8, 8), 3.0))
    assert torch.equal(combine_maps(m, (8, 8), "mean"), torch.full((1, 8, 8), 2.0))


def test_feature_cache_reuses_the_frozen_features_of_each_training_image(monkeypatch):
    from adsynth.zoo import create_model

    model = create_model("fastflow", image_size=32, channels=1, flow_steps=1, cache_features=True)
    images = torch.rand(3, 1, 32, 32)
    first = model.train_features({"image": images, "index": torch.tensor([4, 7, 9])})
    calls = []
    monkeypatch.setattr(model.backbone, "forward", lambda x: calls.append(x) or [])
    again = model.train_features({"image": images[[2, 0]], "index": torch.tensor([9, 4])})
    assert not calls  # served from the cache
    for f, g in zip(first, again, strict=True):
        torch.testing.assert_close(g, f[[2, 0]], rtol=0, atol=0)
    model.train_features({"image": images[:1], "index": torch.tensor([5])})  # unseen: computed
    assert len(calls) == 1


def test_csflow_is_invertible_and_its_log_det_matches_autograd():
    """The cross-scale coupling is a bijection: its log|det J| equals the log-determinant of the
    Jacobian computed by autograd on a tiny input, and two inputs differing at one scale give latents
    that differ at every scale (the scales exchange information)."""
    from adsynth.zoo.methods.csflow.model import CrossScaleCoupling

    torch.manual_seed(0)
    block = CrossScaleCoupling([4, 4, 2], hidden=4, kernel=3, clamp=3.0, gen=torch.Generator().manual_seed(0))
    for p in block.parameters():
        torch.nn.init.normal_(p, std=0.3)
    shapes = [(4, 4, 4), (4, 2, 2), (2, 1, 1)]
    sizes = [torch.Size(s).numel() for s in shapes]

    def f(flat):
        xs = [t.view(1, *s) for t, s in zip(flat.split(sizes), shapes, strict=True)]
        return torch.cat([z.flatten() for z in block(xs)[0]])

    x = torch.randn(sum(sizes), dtype=torch.float64)
    block.double()
    jac = torch.autograd.functional.jacobian(f, x)
    xs = [t.view(1, *s) for t, s in zip(x.split(sizes), shapes, strict=True)]
    _, log_det = block(xs)
    torch.testing.assert_close(log_det[0], torch.linalg.slogdet(jac)[1], rtol=1e-6, atol=1e-6)
    assert (jac[: sizes[0], sizes[0] + sizes[1] :].abs().sum() > 0).item()  # coarsest → finest

"""Behaviour of the restoration proxy-task components, arnet and split-brain (no training)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from adsynth.errors import ConfigError
from adsynth.zoo import create_model
from adsynth.zoo.components.restoration import checkerboard, masked_mse, rgb_to_lab, rotate_each, to_gray


class Constant(nn.Module):
    """A stand-in network: ``value`` everywhere, with ``channels`` output channels."""

    def __init__(self, value: float, channels: int) -> None:
        super().__init__()
        self.value, self.channels = value, channels

    def forward(self, x):
        return torch.full((x.shape[0], self.channels, *x.shape[-2:]), self.value)


class Identity(nn.Module):
    def forward(self, x):
        return x


# ----------------------------------------------------------------------------- components
@pytest.mark.parametrize(
    ("rgb", "lab"),
    [
        ((1.0, 1.0, 1.0), (100.0, 0.0, 0.0)),
        ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
        ((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)),  # sRGB red, D65 (standard tables)
        ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86)),
    ],
)
def test_rgb_to_lab_matches_reference_values(rgb, lab):
    out = rgb_to_lab(torch.tensor(rgb).view(1, 3, 1, 1)).flatten()
    assert torch.allclose(out, torch.tensor(lab), atol=0.05)


def test_to_gray_uses_luma_weights_and_keeps_gray():
    x = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1) * torch.ones(1, 3, 2, 2)
    assert torch.allclose(to_gray(x), torch.full((1, 1, 2, 2), 0.299))
    g = torch.rand(2, 1, 4, 4)
    assert to_gray(g) is g


def test_rotate_each_turns_each_sample_by_its_own_quarter_turns():
    x = torch.arange(2 * 9, dtype=torch.float32).view(2, 1, 3, 3)
    out = rotate_each(x, torch.tensor([1, 2]))
    assert torch.equal(out[0], torch.rot90(x[0], 1, dims=(-2, -1)))
    assert torch.equal(out[1], torch.rot90(x[1], 2, dims=(-2, -1)))
    with pytest.raises(ValueError, match="square"):
        rotate_each(torch.zeros(1, 1, 3, 4), torch.tensor([1]))


def test_checkerboard_groups_are_complementary_cells():
    a = checkerboard(8, 8, 2)
    assert a.sum() == 32 and a[:2, :2].all() and not a[:2, 2:4].any() and a[2:4, 2:4].all()
    assert torch.equal(checkerboard(3, 3, 1).int(), torch.tensor([[1, 0, 1], [0, 1, 0], [1, 0, 1]]))


def test_masked_mse_matches_a_hand_computation():
    pred, target = torch.zeros(1, 2, 1, 2), torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    mask = torch.tensor([[True, False]])
    assert masked_mse(pred, target, mask).item() == pytest.approx((1 + 9) / 2)


# ----------------------------------------------------------------------------- arnet
def test_arnet_erases_the_attributes_that_apply():
    assert create_model("arnet", image_size=32, channels=3, base_width=2, depth=2).attributes == (
        "color",
        "orientation",
    )
    gray = create_model("arnet", image_size=32, channels=1, base_width=2, depth=2)
    assert gray.attributes == ("orientation",) and gray.quarter_turns == (0, 1, 2, 3)
    only = create_model("arnet", image_size=32, channels=3, base_width=2, depth=2, attributes=["color"])
    assert only.quarter_turns == (0,)
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(only.erase(x, torch.tensor([0, 0])), to_gray(x))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"channels": 1, "attributes": ["color"]}, "attributes"),
        ({"attributes": ["colour"]}, "attributes"),
        ({"attributes": []}, "attributes"),
        ({"base_width": 0}, "base_width"),
        ({"image_size": 40}, "image_size"),
        ({"score": "median"}, "score"),
    ],
)
def test_arnet_bad_hyper_parameters_raise(kwargs, name):
    with pytest.raises(ConfigError, match=f"`{name}`"):
        create_model("arnet", **{"image_size": 32, "depth": 2, "base_width": 2, **kwargs})


def test_arnet_training_rotations_come_from_seed_step_and_row():
    m = create_model("arnet", image_size=32, channels=1, base_width=2, depth=2, seed=3)
    batch = {"image": torch.rand(16, 1, 32, 32), "index": torch.arange(16)}
    first = m.training_turns(batch)
    assert torch.equal(first, m.training_turns(batch)) and set(first.tolist()) <= {0, 1, 2, 3}
    assert len(set(first.tolist())) > 1
    m.training_step(batch)
    assert int(m.steps) == 1 and "steps" in m.state_dict()
    assert not torch.equal(first, m.training_turns(batch))  # a new step draws new rotations


def test_arnet_map_is_the_mean_restoration_error_over_the_rotations():
    m = create_model("arnet", image_size=32, channels=1, base_width=2, depth=2, map_sigma=0, score="mean")
    m.restorer = Identity()  # restores nothing: the error of turn k is (rot_k(x) − x)²
    x = torch.rand(2, 1, 32, 32)
    want = torch.stack([(torch.rot90(x, k, dims=(-2, -1)) - x).pow(2)[:, 0] for k in range(4)]).mean(0)
    p = m.eval().predict(x)
    assert torch.allclose(p.anomaly_map, want, atol=1e-6)
    assert torch.allclose(p.score, want.flatten(1).mean(1), atol=1e-6)
    # A rotation-invariant image is restored exactly by the identity: zero map.
    sym = torch.ones(1, 1, 32, 32) * 0.5
    assert m.predict(sym).anomaly_map.abs().max() < 1e-7


# ----------------------------------------------------------------------------- split-brain
def test_split_brain_chooses_lab_for_colour_and_checkerboard_for_gray():
    colour = create_model("split-brain", image_size=32, channels=3, base_width=2, depth=2)
    gray = create_model("split-brain", image_size=32, channels=1, base_width=2, depth=2)
    assert (colour.split, gray.split, gray.cell) == ("lab", "checkerboard", 2)
    with pytest.raises(ConfigError, match="`split`"):
        create_model("split-brain", image_size=32, channels=1, split="lab")
    with pytest.raises(ConfigError, match="`cell`"):
        create_model("split-brain", image_size=32, channels=1, cell=17)


@pytest.mark.parametrize("channels", [1, 3])
def test_checkerboard_half_never_sees_what_it_predicts(channels):
    m = create_model(
        "split-brain", image_size=32, channels=channels, split="checkerboard", base_width=2, depth=2
    )
    x = torch.rand(1, channels, 32, 32, requires_grad=True)
    ga, gb = m.groups(x)
    m.net_a(ga).sum().backward()
    a = checkerboard(32, 32, m.cell)
    assert x.grad[..., ~a].abs().max() == 0 and x.grad[..., a].abs().max() > 0
    x.grad = None
    m.net_b(gb).sum().backward()
    assert x.grad[..., a].abs().max() == 0


def test_lab_halves_predict_ab_from_l_and_l_from_ab():
    m = create_model("split-brain", image_size=32, channels=3, base_width=2, depth=2)
    x = torch.rand(2, 3, 32, 32)
    ga, gb = m.groups(x)
    lab = rgb_to_lab(x)
    assert torch.allclose(ga, lab[:, :1] / 100) and torch.allclose(gb, (lab[:, 1:] + 128) / 255)
    assert m.net_a(ga).shape[1] == 2 and m.net_b(gb).shape[1] == 1


@pytest.mark.parametrize("channels", [1, 3])
def test_checkerboard_map_and_loss_match_a_hand_computation(channels):
    m = create_model(
        "split-brain", image_size=32, channels=channels, split="checkerboard", base_width=2, depth=2
    )
    m.net_a, m.net_b = Constant(0.2, channels), Constant(0.7, channels)
    m.map_sigma, m.score_kind = 0.0, "mean"
    x = torch.rand(2, channels, 32, 32)
    a = checkerboard(32, 32, m.cell)
    # group B (not a) is predicted by net_a (0.2), group A by net_b (0.7)
    want = torch.where(a, (0.7 - x).pow(2).mean(1), (0.2 - x).pow(2).mean(1))
    assert torch.allclose(m.eval().predict(x).anomaly_map, want, atol=1e-6)
    loss = m.training_step({"image": x})
    assert loss["loss_b"].item() == pytest.approx(want[:, ~a].mean().item(), rel=1e-5)
    assert loss["loss_a"].item() == pytest.approx(want[:, a].mean().item(), rel=1e-5)


def test_lab_map_is_the_mean_of_both_cross_prediction_errors():
    m = create_model("split-brain", image_size=32, channels=3, base_width=2, depth=2, map_sigma=0)
    m.net_a, m.net_b = Constant(0.5, 2), Constant(0.4, 1)
    x = torch.rand(1, 3, 32, 32)
    ga, gb = m.groups(x)
    want = ((0.5 - gb).pow(2).mean(1) + (0.4 - ga).pow(2).mean(1)) / 2
    assert torch.allclose(m.eval().predict(x).anomaly_map, want, atol=1e-6)


def test_split_brain_map_is_local():
    """A defect in one cell raises the map there and nowhere far from it (constant networks: the error is
    pixel-wise, and the map is not blurred)."""
    m = create_model("split-brain", image_size=32, channels=1, base_width=2, depth=2, map_sigma=0)
    m.net_a, m.net_b = Constant(0.5, 1), Constant(0.5, 1)
    x = torch.full((1, 1, 32, 32), 0.5)
    x[..., 4:8, 4:8] = 1.0
    amap = m.eval().predict(x).anomaly_map[0]
    assert amap[4:8, 4:8].min() > 0.2 and amap[16:, 16:].abs().max() == 0

"""Unit tests of the inpainting methods' own behaviour: RIAD, SCADN, InTra and SMAI.

Networks are replaced by stand-ins where a test checks the plumbing around them (which pixels a pass
sees, which pass a pixel's reconstruction or error comes from), so that the expected output is exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from adsynth.errors import ConfigError
from adsynth.synth.masks import make_riad_masks
from adsynth.synth.superpixel import slic_segments
from adsynth.zoo import create_model
from adsynth.zoo.components.msgms import gms, msgms_loss, msgms_map
from adsynth.zoo.methods.intra.model import patchify, unpatchify, window_origin
from adsynth.zoo.methods.scadn.model import scadn_generator_loss
from adsynth.zoo.methods.smai import colour_superpixels, superpixel_mask_sets


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _brick(size: int = 64, n: int = 1, seed: int = 0) -> np.ndarray:
    """n×size×size×1 uint8 crops of the bundled brick texture."""
    from adsynth.data.samples import sample_images

    return np.stack([img for _, img in sample_images("brick", n=n, size=size, seed=seed)])


def _as_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


class _FixedOutput(nn.Module):
    """A stand-in network that ignores its input and returns ``image`` (1×C×H×W) for every item, and
    records the inputs it was given."""

    def __init__(self, image: torch.Tensor) -> None:
        super().__init__()
        self.image = image
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        self.inputs.append(torch.cat([x, *rest], dim=1) if rest else x)
        return self.image.expand(x.shape[0], -1, -1, -1)


# ------------------------------------------------------------------------------------------------ MSGMS
def _ramp(size: int = 64) -> torch.Tensor:
    """A smooth 1×1×size×size diagonal ramp (textured enough to have gradients everywhere)."""
    t = torch.linspace(0, 1, size)
    return ((t[None, :] + t[:, None]) / 2)[None, None]


def _with_square(x: torch.Tensor, y0: int, x0: int, side: int, delta: float) -> torch.Tensor:
    out = x.clone()
    out[..., y0 : y0 + side, x0 : x0 + side] = (out[..., y0 : y0 + side, x0 : x0 + side] + delta).clamp(0, 1)
    return out


def test_msgms_is_zero_for_identical_images_and_symmetric():
    x = _rand(2, 3, 32, 32)
    y = _rand(2, 3, 32, 32, seed=1)
    assert float(msgms_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(msgms_map(x, x).abs().max()) < 1e-6
    torch.testing.assert_close(msgms_map(x, y), msgms_map(y, x))
    g = gms(x, y)
    assert g.shape == (2, 1, 32, 32) and float(g.min()) > 0 and float(g.max()) <= 1 + 1e-6
    assert float(msgms_loss(x, y)) > 0.05


def test_msgms_map_is_located_at_a_local_change_and_grows_with_it():
    x = _ramp(96)
    weak, strong = _with_square(x, 8, 8, 8, 0.1), _with_square(x, 8, 8, 8, 0.4)
    m_weak, m_strong = msgms_map(x, weak)[0], msgms_map(x, strong)[0]
    peak = divmod(int(m_strong.argmax()), 96)
    assert 4 <= peak[0] < 20 and 4 <= peak[1] < 20, peak
    # The coarsest scale (pooled 8×) spreads the change, but not across the image.
    assert float(m_strong[60:, 60:].max()) < 1e-4
    assert float(m_strong.max()) > float(m_weak.max()) > 0.05
    assert float(msgms_loss(x, strong)) > float(msgms_loss(x, weak)) > 0
    # A global brightness shift has the same gradients: MSGMS does not see it.
    assert float(msgms_map(x, (x + 0.1)).max()) < 1e-4


# ------------------------------------------------------------------------------------------------- RIAD
def test_riad_inference_masks_partition_the_image_for_every_cell_size():
    model = create_model("riad", image_size=32, channels=1, base_width=4, k_values=[2, 4, 8], n_masks=3)
    masks = model.inference_masks(32, 32).numpy()
    assert masks.shape == (9, 32, 32) and masks.dtype == bool
    for j, k in enumerate([2, 4, 8]):
        part = masks[3 * j : 3 * j + 3]
        assert (part.sum(axis=0) == 1).all()
        # Every k×k cell lies in one set.
        cells = part.reshape(3, 32 // k, k, 32 // k, k)
        assert (cells.all(axis=(2, 4)) == cells.any(axis=(2, 4))).all()
        assert all(0.2 < p.mean() < 0.5 for p in part)
    torch.testing.assert_close(model.inference_masks(32, 32), model.inference_masks(32, 32))
    other = create_model("riad", image_size=32, channels=1, base_width=4, k_values=[2, 4, 8], seed=1)
    assert not torch.equal(other.inference_masks(32, 32), model.inference_masks(32, 32))


def test_riad_recombination_takes_each_pixel_from_the_pass_that_hid_it():
    torch.manual_seed(0)
    model = create_model("riad", image_size=32, channels=1, base_width=4, n_masks=3)
    images = _rand(2, 1, 32, 32)
    hidden = torch.from_numpy(
        np.stack([make_riad_masks(32, 32, k, 3, np.random.default_rng(k)) for k in (4, 8)])
    )

    class PassIndex(nn.Module):
        """Output of forward item i is the constant i + 1, and the inputs are recorded."""

        def __init__(self) -> None:
            super().__init__()
            self.inputs: list[torch.Tensor] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.inputs.append(x)
            return (torch.arange(x.shape[0], dtype=x.dtype) + 1).view(-1, 1, 1, 1).expand_as(x).clone()

    model.net = PassIndex()
    rec = model.inpaint(images, hidden)
    expected = (torch.arange(2)[:, None, None] * 3 + hidden.to(torch.int64).argmax(dim=1) + 1).float()
    torch.testing.assert_close(rec[:, 0], expected)
    # Pass (b, i) saw image b with exactly the cells of set i blanked.
    seen = model.net.inputs[0].view(2, 3, 32, 32)
    torch.testing.assert_close(seen, images * (1 - hidden.float()))


def test_riad_inpaint_is_independent_of_chunking_and_predict_of_batching():
    torch.manual_seed(0)
    model = create_model("riad", image_size=32, channels=1, base_width=4, k_values=[4, 8]).eval()
    images = _rand(3, 1, 32, 32)
    hidden = model.inference_masks(32, 32)[:3]
    torch.testing.assert_close(model.inpaint(images, hidden), model.inpaint(images, hidden, chunk=2))
    whole = model.predict(images)
    single = [model.predict(images[i : i + 1]) for i in range(3)]
    torch.testing.assert_close(
        whole.anomaly_map, torch.cat([p.anomaly_map for p in single]), atol=1e-5, rtol=1e-4
    )
    model.infer_batch = 5
    torch.testing.assert_close(model.predict(images).anomaly_map, whole.anomaly_map, atol=1e-5, rtol=1e-4)


def test_riad_map_is_zero_for_a_perfect_inpainter_and_peaks_at_a_defect():
    normal = _as_tensor(_brick(64))
    model = create_model("riad", image_size=64, channels=1, base_width=4).eval()
    model.net = _FixedOutput(normal)
    clean = model.predict(normal)
    assert float(clean.anomaly_map.abs().max()) < 1e-6 and float(clean.score[0]) < 1e-6
    defective = _with_square(normal, 40, 12, 8, 0.4)
    pred = model.predict(defective)
    y, x = divmod(int(pred.anomaly_map[0].argmax()), 64)
    assert 34 <= y < 54 and 6 <= x < 26, (y, x)
    assert float(pred.score[0]) == pytest.approx(float(pred.anomaly_map.max()))
    assert float(pred.anomaly_map[0, :16, 40:].max()) < 0.2 * float(pred.score[0])


def test_riad_training_step_is_deterministic_and_depends_on_the_seed():
    batch = {"image": _rand(2, 1, 32, 32), "index": torch.tensor([5, 9])}

    def loss(seed: int) -> float:
        torch.manual_seed(0)
        model = create_model("riad", image_size=32, channels=1, base_width=4, seed=seed).train()
        out = model.training_step(batch)
        assert set(out) == {"loss", "l2", "msgms", "ssim"} and int(model.steps) == 1
        return float(out["loss"].detach())

    assert loss(0) == loss(0)
    assert loss(0) != loss(1)


def test_riad_training_masks_follow_a_recipe_mask_and_keep_grids_for_normal_samples():
    model = create_model("riad", image_size=32, channels=1, base_width=4, n_masks=3)
    batch = {"image": _rand(2, 1, 32, 32), "index": torch.tensor([0, 1])}
    grid = model.training_masks(batch)
    assert grid.shape == (2, 3, 32, 32) and bool((grid.sum(dim=1) == 1).all())
    aug = torch.zeros(2, 1, 32, 32)
    aug[0, 0, 4:12, 8:20] = 1  # sample 0: a recipe defect; sample 1 left normal by the recipe
    masks = model.training_masks({**batch, "aug_mask": aug})
    assert masks.shape == (2, 3, 32, 32) and bool((masks.sum(dim=1) == 1).all())
    assert torch.equal(masks[0, 0], aug[0, 0].to(masks.dtype))  # the recipe's region is hidden in one pass
    assert not masks[0, 2].any()  # padding set
    assert torch.equal(masks[1], grid[1])  # a normal sample keeps the same grid masks
    out = model.training_step({**batch, "aug_mask": aug})
    assert torch.isfinite(out["loss"])


# ------------------------------------------------------------------------------------------------ SCADN
def _scadn(**kw):
    return create_model("scadn", image_size=32, channels=1, base_width=4, blocks=1, disc_width=4, **kw)


def test_scadn_stripe_bank_phases_are_complements_of_half_the_image():
    bank = _scadn().stripe_bank(32, 32).numpy()
    assert bank.shape == (3, 4, 32, 32)
    assert (bank[:, 0] ^ bank[:, 1]).all() and (bank[:, 2] ^ bank[:, 3]).all()
    assert np.allclose(bank.mean(axis=(2, 3)), 0.5)
    # Vertical masks vary along x only, horizontal ones along y only, 8, 4 and 2 px wide at 32 px.
    assert (bank[:, 0] == bank[:, 0, :1]).all() and (bank[:, 2] == bank[:, 2, :, :1]).all()
    assert [int(np.argmin(bank[s, 0, 0])) for s in range(3)] == [8, 4, 2]


def test_scadn_hides_the_stripes_with_white_and_gives_the_mask_channel():
    torch.manual_seed(0)
    model = _scadn()
    images = _rand(2, 1, 32, 32)
    mask = torch.from_numpy(model.stripe_bank(32, 32).numpy()[0, :2, None]).float()
    seen = {}

    def spy(masked, m):
        seen["masked"], seen["mask"] = masked, m
        return masked

    model.generator.forward = spy
    model.inpaint(images, mask)
    torch.testing.assert_close(seen["mask"], mask)
    torch.testing.assert_close(seen["masked"], torch.where(mask > 0, torch.ones_like(images), images))


def test_scadn_map_is_the_squared_error_of_the_pass_that_hid_each_pixel():
    torch.manual_seed(0)
    model = _scadn(smooth_sigma=0).eval()
    normal = _rand(1, 1, 32, 32)
    model.generator = _FixedOutput(normal)
    images = torch.cat([normal, _rand(1, 1, 32, 32, seed=1)])
    pred = model.predict(images)
    # Each pixel is hidden in one phase of each direction, and the stand-in's error does not depend on
    # the mask, so max over masks then mean over widths is the plain squared error.
    torch.testing.assert_close(pred.anomaly_map, (images - normal)[:, 0].pow(2))
    assert float(pred.score[0]) == 0.0 and float(pred.score[1]) > 0
    assert len(model.generator.inputs) == 1 and model.generator.inputs[0].shape[0] == 2 * 12


def test_scadn_loss_weights_hidden_errors_four_times_and_survives_empty_masks():
    x = _rand(2, 1, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., :8] = 1
    assert float(scadn_generator_loss(x, x, mask)) == 0.0
    err = torch.full_like(x, 0.1)
    on_hidden = scadn_generator_loss(x + err * mask, x, mask)
    on_visible = scadn_generator_loss(x + err * (1 - mask), x, mask)
    assert float(on_hidden) == pytest.approx(4 * float(on_visible), rel=1e-5)
    empty = scadn_generator_loss(x + err, x, torch.zeros_like(mask))
    assert torch.isfinite(empty) and float(empty) == pytest.approx(0.01 / 0.05, rel=1e-5)


def test_scadn_adversarial_terms_reach_only_their_own_network():
    torch.manual_seed(0)
    model = _scadn().train()
    mask = torch.from_numpy(model.stripe_bank(32, 32).numpy()[:2, 0, None]).float()
    batch = {"image": _rand(2, 1, 32, 32), "aug_mask": mask}

    def grads(term: str) -> tuple[float, float]:
        model.zero_grad(set_to_none=True)
        model.training_step(batch)[term].backward()

        def total(module: nn.Module) -> float:
            return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)

        return total(model.generator), total(model.discriminator)

    g, d = grads("g_adv")
    assert g > 0 and d == 0
    g, d = grads("d")
    assert g == 0 and d > 0
    opt, _ = model.configure_optimizers(lr=1e-3)
    assert [group["lr"] for group in opt.param_groups] == pytest.approx([1e-3, 1e-4])


# ------------------------------------------------------------------------------------------------ InTra
def _intra(**kw):
    kw = {
        "image_size": 32,
        "channels": 1,
        "patch_size": 4,
        "window": 3,
        "dim": 16,
        "depth": 1,
        "heads": 2,
        **kw,
    }
    return create_model("intra", **kw)


def test_intra_patchify_round_trip_and_patch_content():
    x = _rand(2, 3, 24, 16)
    p = patchify(x, 4)
    assert p.shape == (2, 6, 4, 48)
    torch.testing.assert_close(p[1, 2, 3], x[1, :, 8:12, 12:16].reshape(-1))
    torch.testing.assert_close(unpatchify(p, 3, 4), x)


def test_intra_window_origin_is_centred_and_clipped_at_the_borders():
    pos = torch.arange(8)
    origin = window_origin(pos, 8, 3)
    assert origin.tolist() == [0, 0, 1, 2, 3, 4, 5, 5]
    assert window_origin(pos, 8, 4).tolist() == [0, 0, 0, 1, 2, 3, 4, 4]
    for L in range(1, 9):
        o = window_origin(pos, 8, L)
        assert ((o <= pos) & (pos < o + L) & (o >= 0) & (o + L <= 8)).all(), L


def test_intra_targets_mask_the_target_patch_inside_its_window():
    model = _intra()  # grid 8, window 3
    rows, cols = torch.tensor([0, 4, 7, 7]), torch.tensor([0, 4, 7, 2])
    origin, masked, gidx = model.targets(rows, cols)
    assert origin.tolist() == [[0, 0], [3, 3], [5, 5], [5, 1]]
    # Centre (4) inside the image, a corner of the window at the image corners.
    assert masked.tolist() == [0, 4, 8, 7]
    assert (gidx[torch.arange(4), masked] == rows * 8 + cols).all()
    assert gidx[1].tolist() == [27, 28, 29, 35, 36, 37, 43, 44, 45]


def test_intra_oracle_inpainter_reconstructs_the_image():
    """With an inpainter that returns the true patch, the gather and tiling give back the image."""
    model = _intra().eval()
    images = _rand(2, 1, 32, 32)
    patches = patchify(images, 4)

    calls = []

    def oracle(tokens, masked, grid_index):
        n, b = tokens.shape[0], len(calls)
        calls.append(n)
        # Every window token is the image's patch at its grid index.
        torch.testing.assert_close(tokens, patches[b, grid_index // 8, grid_index % 8])
        return tokens[torch.arange(n), masked]

    model.inpaint = oracle
    model.infer_batch = 64  # one image per chunk, so that the oracle knows the image index
    torch.testing.assert_close(model.reconstruct(images), images)
    assert calls == [64, 64]
    calls.clear()
    assert float(model.predict(images).anomaly_map.abs().max()) < 1e-6


@torch.no_grad()
def test_intra_inpaint_ignores_the_masked_token_and_uses_positions():
    torch.manual_seed(0)
    model = _intra().eval()
    tokens = _rand(4, 9, 16)
    masked = torch.tensor([0, 4, 8, 3])
    gidx = torch.arange(9).repeat(4, 1)
    out = model.inpaint(tokens, masked, gidx)
    assert out.shape == (4, 16) and float(out.min()) >= 0 and float(out.max()) <= 1
    changed = tokens.clone()
    changed[torch.arange(4), masked] = 1 - changed[torch.arange(4), masked]
    torch.testing.assert_close(model.inpaint(changed, masked, gidx), out)
    model.global_pos.normal_()
    assert not torch.allclose(model.inpaint(tokens, masked, gidx + 10), model.inpaint(tokens, masked, gidx))


def test_intra_batch_inference_equals_per_image_and_ignores_infer_batch():
    torch.manual_seed(0)
    model = _intra().eval()
    images = _rand(3, 1, 32, 32)
    whole = model.reconstruct(images)
    assert whole.shape == images.shape
    single = torch.cat([model.reconstruct(images[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(whole, single, atol=1e-5, rtol=1e-4)
    for chunk in (1, 7, 1000):
        model.infer_batch = chunk
        torch.testing.assert_close(model.reconstruct(images), whole, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="32"):
        model.predict(_rand(1, 1, 48, 48))


def test_intra_training_step_is_deterministic():
    batch = {"image": _rand(2, 1, 32, 32), "index": torch.tensor([0, 3])}
    losses = []
    for seed in (0, 0, 1):
        torch.manual_seed(0)
        model = _intra(seed=seed, windows_per_image=4).train()
        out = model.training_step(batch)
        assert torch.isfinite(out["loss"]) and int(model.steps) == 1
        losses.append(float(out["loss"].detach()))
    assert losses[0] == losses[1] != losses[2]


# ------------------------------------------------------------------------------------------------- SMAI
def test_colour_superpixels_separates_neighbours_on_slic_labels():
    labels = slic_segments(_brick(64)[0], n_segments=50, compactness=10.0, max_side=40)
    colour = colour_superpixels(labels)
    assert colour.shape == (int(labels.max()) + 1,) and colour.min() == 0
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])):
        touching = a != b
        assert (colour[a[touching]] != colour[b[touching]]).all()
    # Greedy colouring of a planar adjacency graph: a handful of sets, far fewer than superpixels.
    assert 2 <= colour.max() + 1 <= 8 < len(colour)


def test_colour_superpixels_small_cases():
    # A chequerboard of 4 labels: two colours suffice (diagonals do not touch under 4-adjacency).
    assert colour_superpixels(np.array([[0, 1], [2, 3]])).tolist() == [0, 1, 1, 0]
    assert colour_superpixels(np.zeros((3, 3), int)).tolist() == [0]
    stripes = np.repeat(np.arange(5)[None], 4, axis=0)
    # A path of 5 stripes: two alternating colours (the most-connected middle stripes first).
    assert colour_superpixels(stripes).tolist() == [1, 0, 1, 0, 1]


def test_superpixel_mask_sets_partition_the_image_by_whole_superpixels():
    labels = slic_segments(_brick(64, seed=3)[0], n_segments=50, compactness=10.0, max_side=40)
    sets = superpixel_mask_sets(labels)
    assert sets.dtype == bool and sets.shape[1:] == labels.shape
    assert (sets.sum(axis=0) == 1).all()
    for lab in range(int(labels.max()) + 1):
        inside = sets[:, labels == lab]
        assert (inside.all(axis=1) | ~inside.any(axis=1)).all()


def test_smai_map_is_the_error_of_the_pass_that_hid_each_pixel():
    torch.manual_seed(0)
    model = create_model("smai", image_size=64, channels=1, base_width=4, smooth_sigma=0).eval()
    normal = _as_tensor(_brick(64))
    model.net = _FixedOutput(normal)
    images = torch.cat([normal, _as_tensor(_brick(64, seed=5))])
    pred = model.predict(images)
    torch.testing.assert_close(pred.anomaly_map, (images - normal)[:, 0].pow(2))
    assert float(pred.score[0]) == 0.0 and float(pred.score[1]) > 0
    # The stand-in saw every pixel hidden (zeroed, mask channel 1) exactly once per image.
    seen = torch.cat(model.net.inputs)
    labels = model.segments(images)
    counts = [len(superpixel_mask_sets(lab)) for lab in labels]
    assert seen.shape == (sum(counts), 2, 64, 64)
    hid = seen[:, 1]
    torch.testing.assert_close(hid[: counts[0]].sum(0), torch.ones(64, 64))
    assert float((seen[:, 0] * hid).abs().max()) == 0.0
    # map_reduce="superpixel": the same errors averaged over each superpixel.
    model.map_reduce = "superpixel"
    sp = model.predict(images).anomaly_map[1].numpy()
    err = (images[1, 0] - normal[0, 0]).pow(2).numpy()
    for lab in np.unique(labels[1])[:10]:
        region = labels[1] == lab
        assert np.allclose(sp[region], err[region].mean(), atol=1e-6)


def test_smai_training_loss_only_sees_the_hidden_region():
    torch.manual_seed(0)
    model = create_model("smai", image_size=32, channels=1, base_width=4).train()
    x = _rand(2, 1, 32, 32)
    none_hidden = model.training_step({"image": x, "aug_mask": torch.zeros(2, 1, 32, 32)})
    assert float(none_hidden["loss"].detach()) == pytest.approx(0.0, abs=1e-6)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:16, 8:16] = 1
    some = model.training_step({"image": x, "aug_mask": mask})
    assert float(some["l2"].detach()) > 0 and torch.isfinite(some["loss"])


# ------------------------------------------------------------------------------------ determinism, config
@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("riad", {"base_width": 4, "k_values": [4, 8]}),
        ("scadn", {"base_width": 4, "blocks": 1, "disc_width": 4}),
        ("intra", {"patch_size": 4, "window": 3, "dim": 16, "depth": 1, "heads": 2}),
        ("smai", {"base_width": 4}),
    ],
)
def test_models_are_deterministic_with_the_same_seed(name, kw):
    images = _as_tensor(_brick(32, n=2))
    maps = []
    for _ in range(2):
        torch.manual_seed(3)
        model = create_model(name, image_size=32, channels=1, **kw).eval()
        maps.append(model.predict(images).anomaly_map)
        maps.append(model.predict(images).anomaly_map)
    torch.testing.assert_close(maps[0], maps[1], rtol=0, atol=0)
    torch.testing.assert_close(maps[0], maps[2], rtol=0, atol=0)
    torch.manual_seed(4)
    other = create_model(name, image_size=32, channels=1, **kw).eval()
    assert not torch.equal(other.predict(images).anomaly_map, maps[0])


@pytest.mark.parametrize(
    ("name", "kw", "param"),
    [
        ("riad", {"image_size": 40}, "image_size"),
        ("riad", {"k_values": []}, "k_values"),
        ("riad", {"k_values": [4, 0]}, "k_values"),
        ("riad", {"n_masks": 0}, "n_masks"),
        ("riad", {"smooth_sigma": -1.0}, "smooth_sigma"),
        ("riad", {"channels": 2}, "channels"),
        ("scadn", {"image_size": 30}, "image_size"),
        ("scadn", {"widths": [0.25, 1.5]}, "widths"),
        ("scadn", {"blocks": -1}, "blocks"),
        ("scadn", {"disc_width": 0}, "disc_width"),
        ("scadn", {"adv_weight": -0.1}, "adv_weight"),
        ("intra", {"patch_size": 5}, "patch_size"),
        ("intra", {"window": 17}, "window"),
        ("intra", {"dim": 30, "heads": 4}, "heads"),
        ("intra", {"windows_per_image": 0}, "windows_per_image"),
        ("intra", {"smooth_kernel": 0}, "smooth_kernel"),
        ("smai", {"map_reduce": "median"}, "map_reduce"),
        ("smai", {"slic_size": 1}, "slic_size"),
        ("smai", {"compactness": 0.0}, "compactness"),
        ("smai", {"n_segments": 0}, "n_segments"),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(name, kw, param):
    kw = {"image_size": 32, "channels": 1, **kw}
    with pytest.raises(ConfigError, match=f"`{param}`"):
        create_model(name, **kw)

"""Unit tests of the memory and predictive blocks: MemAE addressing, MNAD memory and losses, SSPCAB."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from adsynth.zoo import create_model
from adsynth.zoo.components.memory import MemoryModule, addressing_entropy, hard_shrink
from adsynth.zoo.methods.draem_sspcab import SSPCAB, MaskedConv2d
from adsynth.zoo.methods.mnad import compactness_loss, separateness_loss, update_memory


# ------------------------------------------------------------------------------------------------ MemAE
def test_memae_addressing_weights_sum_to_one_and_are_sparse():
    torch.manual_seed(0)
    mem = MemoryModule(memory_size=40, feature_dim=16, shrink_threshold=0.02, temperature=0.1)
    weights = mem.address(torch.randn(64, 16))
    assert weights.shape == (64, 40) and (weights >= 0).all()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(64))
    assert (weights == 0).any(), "the shrinkage should zero some of the 40 weights"


def test_hard_shrink_zeroes_weights_below_threshold():
    w = torch.tensor([[0.50, 0.30, 0.15, 0.05], [0.9, 0.04, 0.03, 0.03]])
    out = hard_shrink(w, 0.1)
    assert (out[w <= 0.1] == 0).all() and (out[w > 0.1] > 0).all()
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2))
    # Surviving weights keep their proportions (re-normalisation only).
    torch.testing.assert_close(out[0, :3], w[0, :3] / w[0, :3].sum())
    # λ = 0 leaves softmax weights as they are.
    torch.testing.assert_close(hard_shrink(w / w.sum(1, keepdim=True), 0.0), w / w.sum(1, keepdim=True))


def test_hard_shrink_has_a_gradient_on_kept_weights():
    w = torch.tensor([[0.6, 0.3, 0.1]], requires_grad=True)
    (hard_shrink(w, 0.2) * torch.tensor([[1.0, 2.0, 3.0]])).sum().backward()
    assert w.grad is not None and w.grad[0, :2].abs().sum() > 0 and w.grad[0, 2] == 0


def test_entropy_loss_is_minimal_for_one_hot_weights():
    n = 10
    one_hot = F.one_hot(torch.tensor([3, 7]), n).float()
    uniform = torch.full((2, n), 1.0 / n)
    mixed = torch.softmax(torch.randn(2, n, generator=torch.Generator().manual_seed(0)), dim=1)
    assert float(addressing_entropy(one_hot)) == pytest.approx(0.0, abs=1e-6)
    assert float(addressing_entropy(uniform)) == pytest.approx(math.log(n), rel=1e-5)
    assert 0 < float(addressing_entropy(mixed)) < math.log(n)


# ------------------------------------------------------------------------------------------------- MNAD
def _mnad_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    return {"image": torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(seed))}


def test_mnad_memory_update_changes_the_buffer_without_grad():
    torch.manual_seed(0)
    model = create_model("mnad", image_size=32, channels=1, base_width=4, memory_dim=16).train()
    assert "memory" in dict(model.named_buffers()) and "memory" not in dict(model.named_parameters())
    before = model.memory.clone()
    out = model.training_step(_mnad_batch())
    out["loss"].backward()  # the update must not break back-propagation of this step's loss
    assert not torch.equal(before, model.memory)
    assert not model.memory.requires_grad and model.memory.grad_fn is None
    torch.testing.assert_close(model.memory.norm(dim=1), torch.ones(10))
    # The update itself is detached even when the queries carry a gradient.
    queries = F.normalize(torch.randn(8, 16), dim=1).requires_grad_()
    assert not update_memory(queries, before).requires_grad


def test_mnad_memory_update_is_deterministic():
    memories = []
    for _ in range(2):
        torch.manual_seed(0)
        model = create_model("mnad", image_size=32, channels=1, base_width=4, memory_dim=16).train()
        model.training_step(_mnad_batch())
        memories.append(model.memory.clone())
    assert torch.equal(memories[0], memories[1])


def test_mnad_update_moves_an_item_towards_its_queries():
    items = torch.eye(3)
    queries = F.normalize(torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.4, 0.0]]), dim=1)
    new = update_memory(queries, items)
    assert float(new[0] @ queries[0]) > float(items[0] @ queries[0])
    torch.testing.assert_close(new[1:], items[1:])  # no query chose items 1 and 2


def test_compactness_loss_is_zero_on_the_items_and_positive_elsewhere():
    items = torch.eye(4)
    assert float(compactness_loss(items[[0, 2]], items)) == 0.0
    off = F.normalize(torch.tensor([[1.0, 0.3, 0.0, 0.0]]), dim=1)
    assert float(compactness_loss(off, items)) > 0


def test_separateness_loss_zero_when_separated_positive_when_ambiguous():
    items = torch.eye(4)  # items √2 apart: more than the margin of 1
    assert float(separateness_loss(items[[1, 3]], items)) == pytest.approx(0.0, abs=1e-5)
    halfway = F.normalize(torch.tensor([[1.0, 1.0, 0.0, 0.0]]), dim=1)  # as close to item 0 as to item 1
    assert float(separateness_loss(halfway, items)) == pytest.approx(1.0, abs=1e-4)


# ----------------------------------------------------------------------------------------------- SSPCAB
@pytest.mark.parametrize(("k", "d"), [(1, 1), (2, 1), (1, 3)])
def test_masked_conv_ignores_the_hidden_centre(k, d):
    torch.manual_seed(0)
    conv = MaskedConv2d(3, kernel_size=k, dilation=d)
    x = torch.rand(1, 3, 16, 16)
    i, j = 8, 7
    changed = x.clone()
    changed[:, :, i - d : i + d + 1, j - d : j + d + 1] = torch.rand(1, 3, 2 * d + 1, 2 * d + 1)
    a, b = conv(x), conv(changed)
    assert a.shape == x.shape
    torch.testing.assert_close(a[:, :, i, j], b[:, :, i, j], rtol=0, atol=1e-6)
    # ... while positions that see the changed pixels through a corner do change.
    assert not torch.allclose(a[:, :, i + d + 1, j + d + 1], b[:, :, i + d + 1, j + d + 1])


@pytest.mark.parametrize("shape", [(2, 16, 8, 8), (1, 64, 4, 4), (1, 8, 5, 7)])
def test_sspcab_output_shape_equals_input_shape(shape):
    block = SSPCAB(shape[1], kernel_size=1, dilation=1, reduction=8)
    assert block(torch.rand(shape)).shape == shape


def test_draem_sspcab_adds_the_block_loss():
    torch.manual_seed(0)
    model = create_model("draem-sspcab", image_size=32, channels=1, base_width=4).train()
    assert isinstance(model.sspcab, SSPCAB)
    x = torch.rand(2, 1, 32, 32)
    batch = {"image": x, "aug_image": x.flip(-1), "aug_mask": torch.zeros(2, 1, 32, 32)}
    out = model.training_step(batch)
    parts = out["l2"] + out["ssim"] + out["focal"] + model.sspcab_weight * out["sspcab"]
    torch.testing.assert_close(out["loss"], parts)
    out["loss"].backward()
    assert model.sspcab.conv.conv.weight.grad is not None
    # Four 1×1 corner kernels of 32 → 32 channels (and a bias): the hidden centre costs no weights.
    assert sum(p.numel() for p in model.sspcab.conv.parameters()) == 4 * 32 * 32 + 32

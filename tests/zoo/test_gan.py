"""Unit behaviour of the GAN machinery: gradient penalty, per-optimizer steps, phase switches, G_old."""

from __future__ import annotations

import torch
from torch import nn

from adsynth.zoo.components.adversarial import gradient_penalty, split_epoch
from adsynth.zoo.methods.fanogan.model import FAnoGAN
from adsynth.zoo.methods.ognet.model import OGNet
from adsynth.zoo.training.optimizers import Optimizers


def test_gradient_penalty_zero_for_unit_norm_linear_critic_positive_otherwise():
    torch.manual_seed(0)
    critic = nn.Linear(16, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.randn(1, 16))
        critic.weight /= critic.weight.norm()
    real, fake = torch.rand(8, 16), torch.rand(8, 16)
    assert gradient_penalty(critic, real, fake).item() < 1e-10
    with torch.no_grad():
        critic.weight *= 3.0  # ‖∇‖ = 3 everywhere: penalty (3 − 1)² = 4
    assert abs(gradient_penalty(critic, real, fake).item() - 4.0) < 1e-4
    # Image-shaped inputs: the norm is over all pixels of a sample.
    conv = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 1, bias=False))
    with torch.no_grad():
        conv[1].weight.fill_(0.25 / 2**0.5)  # 32 weights of 1/√32: unit norm
    assert gradient_penalty(conv, torch.rand(3, 2, 4, 4), torch.rand(3, 2, 4, 4)).item() < 1e-10


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def _changed(before: dict[str, torch.Tensor], module: nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in module.named_parameters())


def test_each_optimizer_steps_only_its_own_parameters():
    # One trainer step of optimizer i: clear every gradient, backward its loss, step it.
    torch.manual_seed(0)
    model = OGNet(image_size=32, channels=1, width=4)
    opts = Optimizers.of(model.configure_optimizers(lr=1e-3))
    assert opts.multi and len(opts.pairs) == 3
    batch = {"image": torch.rand(4, 1, 32, 32)}
    model.train()
    for i, expect_g, expect_d in ((0, True, False), (1, False, True)):
        g, d = _snapshot(model.generator), _snapshot(model.discriminator)
        out = model.training_step(batch, optimizer_idx=i)
        model.zero_grad(set_to_none=True)
        out["loss"].backward()  # the G loss also puts gradients on D (through D(G(x)))
        opts.pairs[i][0].step()
        assert _changed(g, model.generator) is expect_g
        assert _changed(d, model.discriminator) is expect_d
    assert model.training_step(batch, optimizer_idx=2) is None  # fine-tuning is idle in phase one


def test_fanogan_phases_and_n_critic():
    m = FAnoGAN(image_size=32, channels=1, width=4, latent_dim=8, n_critic=3, gan_fraction=0.6)
    assert split_epoch(0.6, 10) == 6 and split_epoch(0.6, 2) == 1 and split_epoch(0.6, 1) == 1
    batch = {"image": torch.rand(2, 1, 32, 32)}
    m.on_epoch_start(5, 10)
    m.train()
    generator_steps = []
    for _ in range(6):
        assert m.training_step(batch, optimizer_idx=0) is not None
        generator_steps.append(m.training_step(batch, optimizer_idx=1) is not None)
        assert m.training_step(batch, optimizer_idx=2) is None
    assert generator_steps == [False, False, True, False, False, True] and int(m.critic_steps) == 6
    m.on_epoch_start(6, 10)
    m.train()
    assert not m.generator.training and not m.critic.training and m.encoder.training
    assert m.training_step(batch, optimizer_idx=0) is None and m.training_step(batch, optimizer_idx=1) is None
    assert m.training_step(batch, optimizer_idx=2)["loss"].requires_grad


def test_ognet_phase_switch_and_frozen_old_generator():
    torch.manual_seed(0)
    m = OGNet(image_size=32, channels=1, width=4, old_epochs=1, phase_two_start=0.5)
    assert m.phase_epochs(10) == (1, 5)
    assert not any(p.requires_grad for p in m.old_generator.parameters())
    opts = Optimizers.of(m.configure_optimizers(lr=1e-2))
    batch = {"image": torch.rand(4, 1, 32, 32)}

    def run_epoch(epoch: int) -> None:
        m.on_epoch_start(epoch, 10)
        m.train()
        for i, (opt, _) in enumerate(opts.pairs):
            out = m.training_step(batch, optimizer_idx=i)
            if out is not None:
                m.zero_grad(set_to_none=True)
                out["loss"].backward()
                opt.step()

    run_epoch(0)
    assert not bool(m.old_ready) and m.phase == 0
    run_epoch(1)  # G_old taken at the start of epoch 1: G after one epoch
    assert bool(m.old_ready) and not m.old_generator.training
    old = _snapshot(m.old_generator)
    for epoch in range(2, 5):
        run_epoch(epoch)
    assert m.phase == 0 and not _changed(old, m.old_generator)  # G trained on, G_old did not
    g = _snapshot(m.generator)
    assert any(not torch.equal(old[k], g[k]) for k in old)
    d = _snapshot(m.discriminator)
    run_epoch(5)
    assert m.phase == 1 and not m.generator.training
    assert not _changed(g, m.generator) and not _changed(old, m.old_generator)
    assert _changed(d, m.discriminator)
    # G_old is part of the checkpointed state.
    assert any(k.startswith("old_generator.") for k in m.state_dict()) and "old_ready" in m.state_dict()

"""Unit tests of GradCon's gradient constraint and OE-SDN's losses and map."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from adsynth.errors import ConfigError
from adsynth.zoo import create_model
from adsynth.zoo.components.gradients import RunningGradients, gradient_constraint_loss
from adsynth.zoo.methods.oe_sdn.loss import gram_matrix, masked_mse, style_loss
from adsynth.zoo.training.distributed import Dist, check_distributable


# ---------------------------------------------------------------- GradCon
def test_gradient_constraint_loss_matches_a_hand_computation():
    g = [torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([3.0, 4.0])]
    ref = [torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([-3.0, -4.0])]
    # Layer 1: g·r = 2, |g| = √5, |r| = √5 → cos 0.4; layer 2: cos −1. Loss = −(0.4 − 1) / 2 = 0.3.
    assert float(gradient_constraint_loss(g, ref)) == pytest.approx(0.3, abs=1e-6)


def test_gradient_constraint_loss_is_per_sample_with_a_batch_dimension():
    ref = [torch.tensor([1.0, 0.0])]
    g = [torch.tensor([[1.0, 0.0], [0.0, 1.0], [-2.0, 0.0]])]
    assert gradient_constraint_loss(g, ref).tolist() == pytest.approx([-1.0, 0.0, 1.0])


def test_running_gradients_average_every_training_step_and_skip_eval():
    w = torch.nn.Parameter(torch.zeros(3))
    state = {"training": True}
    ref = RunningGradients([w], lambda: state["training"])
    for target in (torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 2.0, 1.0])):
        w.grad = None
        (w * target).sum().backward()  # gradient = target
    assert ref.count.tolist() == [2] and ref.means()[0].tolist() == pytest.approx([2.0, 2.0, 2.0])
    state["training"] = False
    w.grad = None
    (w * 100).sum().backward()
    assert ref.count.tolist() == [2] and ref.means()[0].tolist() == pytest.approx([2.0, 2.0, 2.0])


def test_running_gradients_ignore_a_non_finite_step():
    w = torch.nn.Parameter(torch.zeros(2))
    ref = RunningGradients([w], lambda: True)
    (w * torch.tensor([float("inf"), 1.0])).sum().backward()
    assert ref.count.tolist() == [0] and not ref.ready()


def _gradcon():
    torch.manual_seed(0)
    return create_model("gradcon", image_size=32, channels=1, widths=[4, 8])


def test_gradcon_constraint_starts_after_the_first_step_and_tracks_the_full_gradient():
    m = _gradcon()
    opt, _ = m.configure_optimizers(lr=1e-3)
    x = torch.rand(4, 1, 32, 32)
    first = m.training_step({"image": x})
    assert float(first["grad_loss"]) == 0.0 and not m.reference.ready()
    opt.zero_grad()
    first["loss"].backward()
    # The reference after one step is that step's gradient of the decoder weights.
    for mean, w in zip(m.reference.means(), m.decoder_weights(), strict=True):
        assert torch.equal(mean, w.grad)
    opt.step()
    second = m.training_step({"image": x})
    recon = F.mse_loss(m(x), x)
    grads = torch.autograd.grad(recon, m.decoder_weights())
    cos = [
        F.cosine_similarity(g.flatten(), r.flatten(), dim=0)
        for g, r in zip(grads, m.reference.means(), strict=True)
    ]
    assert float(second["grad_loss"]) == pytest.approx(-float(sum(cos)) / len(cos), abs=1e-5)
    assert float(second["loss"].detach()) == pytest.approx(
        float(recon.detach()) + 0.03 * float(second["grad_loss"]), abs=1e-6
    )
    assert m.reference.state_dict()["count"].tolist() == [1, 1]


def test_gradcon_batched_scores_equal_one_backward_per_sample():
    m = _gradcon()
    opt, _ = m.configure_optimizers(lr=1e-3)
    x = torch.rand(3, 1, 32, 32)
    for _ in range(2):
        out = m.training_step({"image": x})
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    m.eval()
    score = m.predict(x).score
    expected = []
    for i in range(3):
        m.zero_grad()
        xi = x[i : i + 1]
        loss = F.mse_loss(m(xi), xi)
        loss.backward()
        g = gradient_constraint_loss([w.grad for w in m.decoder_weights()], m.reference.means())
        expected.append(float(loss.detach()) + 0.12 * float(g))
    assert score.tolist() == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert m.reference.count.tolist() == [2, 2]  # scoring does not move the reference


def test_gradcon_map_is_the_local_reconstruction_error():
    m = create_model("gradcon", image_size=32, channels=1, widths=[4, 8], map_sigma=0).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        rec = m(x)
    assert torch.allclose(m.predict(x).anomaly_map, (rec - x).pow(2)[:, 0], atol=1e-6)


@pytest.mark.parametrize(
    ("kw", "name"),
    [({"widths": []}, "widths"), ({"widths": [4, 0]}, "widths"), ({"alpha": -1}, "alpha"),
     ({"beta": "x"}, "beta"), ({"image_size": 34}, "image_size")],
)  # fmt: skip
def test_gradcon_bad_hyper_parameters_name_themselves(kw, name):
    with pytest.raises(ConfigError, match=f"`{name}`"):
        create_model("gradcon", **{"image_size": 32, "widths": [4, 8], **kw})


# ---------------------------------------------------------------- OE-SDN
def test_style_loss_is_zero_for_identical_features_and_positive_otherwise():
    torch.manual_seed(0)
    f = [torch.rand(2, 4, 8, 8), torch.rand(2, 6, 4, 4)]
    assert float(style_loss(f, [t.clone() for t in f])) == 0.0
    assert float(style_loss(f, [t * 0.5 for t in f])) > 0.1


def test_gram_and_style_loss_match_a_hand_computation():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]]).view(1, 2, 1, 2)  # channels (1, 0) and (0, 2)
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 2, 1, 2)
    assert gram_matrix(a)[0].tolist() == [[0.25, 0.0], [0.0, 1.0]]  # F Fᵀ / (C·H·W = 4)
    # G(b) = diag(0.25, 0.25): ||G(a) − G(b)||² = 0.75² = 0.5625; ||G(a)||² + ||G(b)||² = 1.0625 + 0.125.
    assert float(style_loss([a], [b])) == pytest.approx(0.5625 / 1.1875)
    assert float(style_loss([a], [-a])) <= 2.0


def test_style_loss_ignores_where_a_pattern_is():
    x = torch.zeros(1, 1, 8, 8)
    x[..., 1, 1] = 1
    assert float(style_loss([x], [torch.roll(x, (4, 3), (2, 3))])) == pytest.approx(0.0, abs=1e-9)


def test_masked_mse_weights_pixels():
    x, y = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2)
    y[..., 0, 0] = 3
    mask = torch.zeros(1, 1, 2, 2)
    mask[..., 0, 0] = 1
    assert float(masked_mse(x, y, mask)) == 9.0
    assert float(masked_mse(x, y, 1 - mask)) == 1.0
    assert float(masked_mse(x, y, torch.zeros_like(mask))) == 0.0


def _oe_sdn(**kw):
    torch.manual_seed(0)
    return create_model(
        "oe-sdn", image_size=32, channels=1, latent_dim=4, student_width=4, student_depth=2, **kw
    )


def test_oe_sdn_outlier_exposure_targets_the_input_inside_the_defect():
    m = _oe_sdn(style_weight=0.0)
    x = torch.rand(2, 1, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:16, 8:16] = 1
    aug = torch.where(mask > 0, torch.ones_like(x), x)
    out = m.training_step({"image": x, "aug_image": aug, "aug_mask": mask})
    with torch.no_grad():
        s, t = m.student(aug), m.teacher(aug)
    inside = ((s - aug).pow(2) * mask).sum() / mask.sum()
    outside = ((s - t).pow(2) * (1 - mask)).sum() / (1 - mask).sum()
    assert float(out["oe"]) == pytest.approx(float(inside + outside), rel=1e-5)
    # No defect: the outlier-exposure term is plain imitation of the teacher.
    none = m.training_step({"image": x, "aug_image": x, "aug_mask": torch.zeros_like(mask)})
    assert float(none["oe"]) == pytest.approx(float(none["pixel"]), rel=1e-5)


def test_oe_sdn_teacher_learns_only_its_reconstruction_of_normal_images():
    m = _oe_sdn()
    x = torch.rand(2, 1, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 4:12, 4:12] = 1
    batch = {"image": x, "aug_image": torch.rand(2, 1, 32, 32), "aug_mask": mask}
    out = m.training_step(batch)
    teacher = [*m.encoder.parameters(), *m.decoder.parameters()]
    got = torch.autograd.grad(out["loss"], teacher, retain_graph=True)
    # The student's pixel, style and outlier-exposure terms send nothing into the teacher.
    want = torch.autograd.grad(F.mse_loss(m.teacher(x), x), teacher)
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g, w, atol=1e-7)
    assert all(g.abs().sum() > 0 for g in torch.autograd.grad(out["loss"], list(m.student.parameters())))


def test_oe_sdn_two_phases_train_the_teacher_then_the_student_against_it():
    m = _oe_sdn(teacher_steps=2)
    x = torch.rand(2, 1, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 4:12, 4:12] = 1
    batch = {"image": x, "aug_image": torch.rand(2, 1, 32, 32), "aug_mask": mask}
    teacher = [*m.encoder.parameters(), *m.decoder.parameters()]
    student = list(m.student.parameters())

    def grads(out):
        m.zero_grad(set_to_none=True)
        out["loss"].backward()
        return [p.grad is not None and p.grad.abs().sum() > 0 for p in teacher], [
            p.grad is not None for p in student
        ]

    for _ in range(2):  # phase 1: the autoencoder alone
        t, s = grads(m.training_step(batch))
        assert all(t) and not any(s)
    out = m.training_step(batch)  # phase 2: the student alone, against the fixed teacher
    assert float(out["ae"]) == 0.0 and float(out["pixel"]) > 0
    t, s = grads(out)
    assert not any(t) and all(s)
    assert int(m.state_dict()["steps"]) == 3  # saved with the checkpoint: --resume keeps the phase
    fresh = _oe_sdn(teacher_steps=2)
    fresh.load_state_dict(m.state_dict())
    assert int(fresh.steps) == 3
    old = {k: v for k, v in m.state_dict().items() if k != "steps"}  # a checkpoint of before the phases
    fresh.load_state_dict(old)
    assert int(fresh.steps) == 0


def test_oe_sdn_two_phases_are_refused_under_torchrun():
    # The model declares it (single_process_reason); the trainer checks it before the first step.
    torchrun = Dist(rank=0, local_rank=0, world=2)
    with pytest.raises(ConfigError, match="`teacher_steps`"):
        check_distributable(_oe_sdn(teacher_steps=2), torchrun)
    check_distributable(_oe_sdn(teacher_steps=2), Dist())  # one process: both phases run
    check_distributable(_oe_sdn(), torchrun)  # joint training runs under DDP as before


def test_oe_sdn_map_is_the_student_teacher_difference_and_is_local():
    m = _oe_sdn(map_sigma=0.0).eval()
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        s, t = m(x)
    amap = m.predict(x).anomaly_map
    assert amap.shape == (1, 32, 32)
    assert torch.allclose(amap, (s - t).pow(2)[:, 0], atol=1e-6)
    # A student that copied the teacher exactly would give a zero map.
    m.student.forward = m.teacher
    assert float(m.predict(x).anomaly_map.abs().max()) == 0.0


@pytest.mark.parametrize(
    ("kw", "name"),
    [({"style_layers": 50}, "style_layers"), ({"student_depth": 6}, "image_size"),
     ({"ae_loss": "l1"}, "ae_loss"), ({"score": "p99"}, "score"), ({"oe_weight": -1}, "oe_weight"),
     ({"image_size": 48}, "image_size"), ({"teacher_steps": -1}, "teacher_steps")],
)  # fmt: skip
def test_oe_sdn_bad_hyper_parameters_name_themselves(kw, name):
    with pytest.raises(ConfigError, match=f"`{name}`"):
        create_model("oe-sdn", **{"image_size": 32, **kw})


def test_gradcon_alpha_default_is_the_reference_codes():
    assert math.isclose(create_model("gradcon", image_size=32, widths=[4]).config()["alpha"], 0.03)

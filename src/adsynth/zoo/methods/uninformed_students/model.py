"""Uninformed Students (Bergmann et al., CVPR 2020): an ensemble of students regresses a teacher's dense
descriptors; anomaly = regression error + predictive variance.

Teacher: the paper distils a patch-descriptor network T (p ∈ {17, 33, 65}, d = 128) from an ImageNet
ResNet-18 first, with extra metric-learning and compactness losses. Here the teacher is the frozen
pretrained backbone itself (bundled EfficientNet-Lite0): its level-l feature map *is* a dense field of
descriptors of receptive-field-sized patches, computed in one pass (no fast-dense-extraction trick
needed); levels 1-3 (strides 4, 8, 16) play the role of the paper's three patch sizes. This skips the
distillation stage (time; the CPU budget) and keeps the teacher the pretrained network, whose features
PaDiM shows to be discriminative on this data. Its descriptors are standardised per channel with the
mean and standard deviation of the first training batch (stored as buffers), as the paper standardises
the teacher's outputs with training statistics.

Students: per level ``n_students`` (3) networks trained from scratch (seeded inits): strided 3×3 conv
stages down to the level's stride, then 3×3 convs and a 1×1 head to the teacher's channels; loss = the
MSE between each student's and the standardised teacher descriptors, summed over levels and students.

Map: per level and position, the regression error ``e = ‖mean_m s_m − t‖²`` and the predictive variance
``v = mean_c var_m s_m``, each normalised with its mean and standard deviation over the training images
(a fitting pass after training: ``fit_mode = "both"``), ``ẽ + ṽ``; upsampled bilinearly and averaged
over levels (the paper's multi-scale average). Image score: max of the map.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.distillation import FrozenBackboneModel, combine_maps
from adsynth.zoo.components.modes import eval_mode


def student_net(cin: int, cout: int, stride: int, width: int, depth: int) -> nn.Sequential:
    """A from-scratch student: log2(stride) stride-2 3×3 convs, ``depth`` 3×3 convs (leaky ReLU, the
    paper's patch networks have no normalisation), a 1×1 head to ``cout``."""
    layers: list[nn.Module] = []
    c = cin
    s = 1
    while s < stride:
        layers += [nn.Conv2d(c, width, 3, 2, 1), nn.LeakyReLU(5e-3)]
        c, s = width, s * 2
    for _ in range(depth):
        layers += [nn.Conv2d(c, width, 3, 1, 1), nn.LeakyReLU(5e-3)]
        c = width
    layers.append(nn.Conv2d(c, cout, 1))
    return nn.Sequential(*layers)


@register_model("uninformed-students")
class UninformedStudents(FrozenBackboneModel):
    """Student-teacher anomaly detection with an ensemble of students per feature level.

    Args:
        image_size, channels: resolution and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the frozen teacher (default bundled
            ImageNet EfficientNet-Lite0, levels 1-3, the paper's three patch sizes).
        n_students: students per level (3, the paper's M).
        width: channels of the students' convs (128, the paper's descriptor dimension d).
        depth: stride-1 3×3 convs of each student after its strided stages (3).
        weight_decay: of Adam (1e-5; lr 1e-4 as the paper).
        seed: seed of the students' initialisations.
        cache_features: reuse each training image's teacher features across epochs.
    """

    family = "distillation"
    paper = (
        "Bergmann et al., Uninformed Students: Student-Teacher Anomaly Detection with Discriminative "
        "Latent Embeddings, CVPR 2020"
    )
    fit_mode = "both"
    default_epochs = 100
    default_batch_size = 1
    default_lr = 1e-4
    caches_features = True

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        n_students: int = 3,
        width: int = 128,
        depth: int = 3,
        weight_decay: float = 1e-5,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            n_students=check_positive_int(n_students, "n_students"),
            width=check_positive_int(width, "width"),
            depth=check_positive_int(depth, "depth"),
            weight_decay=float(weight_decay),
            seed=int(seed),
            **backbone_options,
        )
        if n_students < 2:
            raise ConfigError(
                f"expected `n_students` >= 2 (the variance needs an ensemble), got {n_students}"
            )
        levels = len(self.feature_channels)
        fork = torch.random.fork_rng(devices=[])
        with fork:
            torch.manual_seed(int(seed))
            self.students = nn.ModuleList(
                nn.ModuleList(student_net(channels, c, s, width, depth) for _ in range(n_students))
                for c, s in zip(self.feature_channels, self.feature_strides, strict=True)
            )
        for i, c in enumerate(self.feature_channels):
            self.register_buffer(f"t_mean{i}", torch.zeros(1, c, 1, 1))
            self.register_buffer(f"t_std{i}", torch.ones(1, c, 1, 1))
        self.register_buffer("t_fitted", torch.zeros((), dtype=torch.bool))
        # per level: mean / std of e and of v over the training images
        self.register_buffer("ev_stats", torch.tensor([[0.0, 1.0, 0.0, 1.0]] * levels))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self._fit: list[list[torch.Tensor]] = []

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        params = [p for p in self.students.parameters()]
        opt = torch.optim.Adam(params, lr=lr or self.default_lr, weight_decay=self._hparams["weight_decay"])
        return opt, None

    def _teacher(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        if not bool(self.t_fitted):  # the first training batch fixes the standardisation
            for i, f in enumerate(feats):
                getattr(self, f"t_mean{i}").copy_(f.mean((0, 2, 3), keepdim=True))
                getattr(self, f"t_std{i}").copy_(f.std((0, 2, 3), keepdim=True).clamp_min(1e-6))
            self.t_fitted.fill_(True)
        return [(f - getattr(self, f"t_mean{i}")) / getattr(self, f"t_std{i}") for i, f in enumerate(feats)]

    def _students(self, images: torch.Tensor, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """Per level, the students' outputs stacked: M×B×C×h×w (resized to the teacher's h×w)."""
        out = []
        for group, size in zip(self.students, sizes, strict=True):
            preds = [s(images) for s in group]
            preds = [
                p if p.shape[-2:] == size else F.interpolate(p, size=size, mode="bilinear") for p in preds
            ]
            out.append(torch.stack(preds))
        return out

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        teach = self._teacher(self.train_features(batch))
        studs = self._students(batch["image"], [t.shape[-2:] for t in teach])
        terms = {
            f"loss_l{layer}": (s.float() - t.unsqueeze(0)).pow(2).mean()
            for layer, s, t in zip(self._hparams["layers"], studs, teach, strict=True)
        }
        return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}

    def _error_variance(self, images: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        teach = self._teacher(self.features(images))
        studs = self._students(images, [t.shape[-2:] for t in teach])
        return [
            ((s.mean(0) - t).pow(2).sum(1), s.var(0).mean(1))
            for s, t in zip((x.float() for x in studs), teach, strict=True)
        ]

    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        with eval_mode(self):
            self._fit.append(
                [torch.stack([e.flatten(), v.flatten()]) for e, v in self._error_variance(batch["image"])]
            )

    def fit_end(self) -> None:
        if not self._fit:
            raise RuntimeError("uninformed-students: fit_end() called before any fit_batch()")
        for i in range(len(self.feature_channels)):
            ev = torch.cat([b[i] for b in self._fit], dim=1).double()
            e, v = ev[0], ev[1]
            self.ev_stats[i] = torch.stack(
                [e.mean(), e.std().clamp_min(1e-12), v.mean(), v.std().clamp_min(1e-12)]
            ).float()
        self.fitted.fill_(True)
        self._fit = []

    def extra_repr(self) -> str:
        return f"levels={self._hparams['layers']}, students={self._hparams['n_students']}"

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        maps = []
        for (e, v), st in zip(self._error_variance(images), self.ev_stats, strict=True):
            maps.append((e - st[0]) / st[1] + (v - st[2]) / st[3])
        amap = combine_maps(maps, tuple(images.shape[-2:]), "mean")
        return Prediction(anomaly_map=amap.float(), score=amap.flatten(1).amax(1).float())

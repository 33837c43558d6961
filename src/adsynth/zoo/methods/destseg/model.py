"""DeSTSeg, segmentation-guided denoising student-teacher (Zhang, Li, Li, Huang, Shan, Chen, CVPR 2023).

A frozen ImageNet teacher (the bundled EfficientNet-Lite0, levels 1-3 = strides 4, 8, 16, for the paper's
ResNet-18 layer1-3) and a randomly initialised encoder-decoder student. Stage 1, the *denoising* student:
it sees the synthetic-defect image and regresses the teacher's features of the *clean* image (cosine
distance per level). Stage 2, the student frozen: a segmentation head reads the element-wise product of
the channel-wise L2-normalised teacher and student features of the synthetic-defect image (all levels
upsampled to the finest grid and concatenated) and is trained on the synthetic mask with focal (γ = 4) +
L1 loss. Map: the head's output, upsampled to the input size (and blurred with ``sigma``, default none);
score: the mean of its ``top_k`` largest values. The synthetic defects come from the trainer's recipe
(``--recipe``, default ``draem``).

Real defects (``--real-defects all``): a real defective photo is one more positive of the segmentation
head (its real mask is the target); the denoising student never sees it (it has no clean version). With
``--no-synthetic`` the student learns to reproduce the teacher on normal images only (the paper's plain
student-teacher) and the head learns from the real defects alone: the real-only baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_choice, check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.distillation import FrozenBackboneModel, ResidualBlock, conv_bn_relu
from adsynth.zoo.data import image_chunks
from adsynth.zoo.methods.destseg.loss import cosine_distance_loss, segmentation_loss
from adsynth.zoo.methods.destseg.memory import NormalMemory

#: the paper's ASPP dilation rates, for its 64×64 stride-4 grid (256 px input)
PAPER_RATES = (6, 12, 18)


def _init_weights(m: nn.Module) -> None:
    """The reference initialisation: Kaiming-normal convolutions (fan-out), BatchNorm weight 1, bias 0."""
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _stage(cin: int, cout: int, blocks: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        ResidualBlock(cin, cout, stride), *(ResidualBlock(cout, cout) for _ in range(blocks - 1))
    )


class DenoisingStudent(nn.Module):
    """A randomly initialised encoder-decoder whose outputs are shaped like the teacher's levels.

    Encoder: a stem to stride 4 (two 3×3 stride-2 conv-BN-ReLU) and residual stages of widths
    ``w, 2w, 4w, ...`` at strides 4, 8, 16, ... down to twice the deepest teacher stride (the paper's
    ResNet-18 layer1-4 for teacher layer1-3). Decoder, without skip connections: residual blocks at the
    bottom, then, deepest teacher level first, bilinear upsampling to the level's grid, ``blocks`` residual
    blocks to the encoder's width at that stride and a linear 1×1 convolution to the teacher's channels
    (Lite0's features are signed, unlike the post-ReLU ResNet features the reference decoder emits).

    Args:
        in_channels: image channels.
        teacher_channels, teacher_strides: channels and strides of the teacher's levels, shallowest first;
            strides must be powers of two from 4 on.
        width: ``w``, the first stage's width (reference: 64, ResNet-18).
        blocks: residual blocks per stage and per decoder level (reference: 2).

    Example:
        >>> s = DenoisingStudent(3, [8, 16], [4, 8], width=4, blocks=1)
        >>> [tuple(f.shape) for f in s(torch.rand(1, 3, 32, 32))]
        [(1, 8, 8, 8), (1, 16, 4, 4)]
    """

    def __init__(
        self,
        in_channels: int,
        teacher_channels: Sequence[int],
        teacher_strides: Sequence[int],
        width: int,
        blocks: int,
    ) -> None:
        super().__init__()
        strides = [int(s) for s in teacher_strides]
        if any(s < 4 or s & (s - 1) for s in strides) or strides != sorted(set(strides)):
            raise ConfigError(
                f"destseg: expected teacher strides that are increasing powers of 2 >= 4, got {strides}"
            )
        n = int(math.log2(strides[-1]))  # stages at strides 4 ... 2·max
        widths = [width * 2**i for i in range(n)]
        self.levels = [int(math.log2(s)) - 2 for s in strides]  # the stage index of each teacher level
        self.stem = nn.Sequential(
            conv_bn_relu(in_channels, widths[0], 3, 2), conv_bn_relu(widths[0], widths[0], 3, 2)
        )
        self.encoder = nn.ModuleList(
            _stage(widths[max(i - 1, 0)], widths[i], blocks, 1 if i == 0 else 2) for i in range(n)
        )
        self.bottom = _stage(widths[-1], widths[-1], blocks)
        self.decoder = nn.ModuleList()
        self.project = nn.ModuleList()
        prev = widths[-1]
        for k, c in zip(reversed(self.levels), reversed(list(teacher_channels)), strict=True):
            self.decoder.append(_stage(prev, widths[k], blocks))
            self.project.append(nn.Conv2d(widths[k], int(c), 1))
            prev = widths[k]
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per teacher level, shallowest first, B×C_l×h_l×w_l features of ``x`` (normalised images)."""
        x = self.stem(x)
        sizes = []
        for stage in self.encoder:
            x = stage(x)
            sizes.append(x.shape[-2:])
        x = self.bottom(x)
        out = []
        for k, block, proj in zip(reversed(self.levels), self.decoder, self.project, strict=True):
            x = block(F.interpolate(x, size=sizes[k], mode="bilinear", align_corners=False))
            out.append(proj(x))
        return out[::-1]


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: a global-average branch (1×1 conv-BN-ReLU, broadcast back) and
    one 3×3 conv-BN-ReLU per dilation rate, concatenated and fused by a 3×3 conv-BN-ReLU."""

    def __init__(self, cin: int, cout: int, rates: Sequence[int]) -> None:
        super().__init__()
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), conv_bn_relu(cin, cout, 1))
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=r, dilation=r, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )
            for r in rates
        )
        self.fuse = conv_bn_relu((1 + len(rates)) * cout, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x).expand(-1, -1, *x.shape[-2:])
        return self.fuse(torch.cat([pooled, *(b(x) for b in self.branches)], 1))


class SegmentationHead(nn.Module):
    """Two residual blocks to ``width`` channels (``res``), then ASPP, a 3×3 conv-BN-ReLU and a 1×1
    convolution to one logit per position (``head``); the reference uses width 256."""

    def __init__(self, cin: int, width: int, rates: Sequence[int]) -> None:
        super().__init__()
        self.res = nn.Sequential(ResidualBlock(cin, width), ResidualBlock(width, width))
        self.head = nn.Sequential(
            ASPP(width, width, rates), conv_bn_relu(width, width, 3), nn.Conv2d(width, 1, 1)
        )
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.res(x))


def scaled_rates(image_size: int) -> list[int]:
    """The paper's ASPP rates (6, 12, 18 at 256 px) scaled to ``image_size``, at least 1, duplicates
    dropped.

    Example:
        >>> scaled_rates(128)
        [3, 6, 9]
    """
    return sorted({max(1, round(r * image_size / 256)) for r in PAPER_RATES})


@register_model("destseg")
class DeSTSeg(FrozenBackboneModel):
    """DeSTSeg: a denoising student against a frozen teacher, and a segmentation head on their features.

    Training runs in two phases chosen by epoch: the first ``round(student_fraction · epochs)`` epochs
    train the student alone (its optimizer is the first), the rest the segmentation head alone with the
    student frozen (BatchNorm in eval mode too) — the reference code's 1000 of 5000 steps. A run of a
    single epoch trains both on every batch (the head on the student of the moment).

    Args:
        image_size, channels: resolution and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the frozen teacher (default the bundled
            ImageNet EfficientNet-Lite0, levels 1-3 = strides 4, 8, 16 like the paper's ResNet-18
            layer1-3); levels must have strides that are powers of 2 from 4 on.
        student_width, student_blocks: the student's first width and residual blocks per stage
            (reference: ResNet-18, 64 and 2).
        seg_width: the segmentation head's width (reference: 256).
        aspp_rates: dilation rates of the head's ASPP; None: the paper's 6, 12, 18 scaled to
            ``image_size`` / 256.
        student_fraction: fraction of the epochs that train the student (reference: 0.2).
        optimizer: ``"sgd"`` (reference: momentum 0.9, weight decay 1e-4) or ``"adam"``.
        seg_lr, head_lr: learning rates of the head's residual blocks and of the rest of the head
            (reference: 0.1 and 0.01 with SGD); the trainer's ``lr`` is the student's (reference: 0.4).
        momentum, weight_decay: SGD's momentum and both optimizers' weight decay.
        focal_gamma, focal_weight, l1_weight: the segmentation loss (reference: 4, 1, 1).
        top_k: the image score is the mean of the map's ``top_k`` largest values (reference: 100).
        output: ``"segmentation"`` (the method) or ``"student"`` (the paper's DeST ablation: the product
            over levels of the teacher-student cosine distances, upsampled).
        balance: the segmentation loss' pixel weighting: ``"pixel"`` (the paper) or ``"defect"`` (each
            image's defect weighs the same whatever its area; see ``loss.defect_balanced_weights``).
        memory: positions per level of a memory of normal teacher features whose nearest-neighbour
            distances the head reads too (``memory.NormalMemory``; 0, the default: none, the paper).
        sigma: Gaussian blur of the output map in pixels (0, the default: none, the paper; the image
            score is taken before the blur, so it does not change). Bottle at 256 px: 4 (README).
        rotation: each normal training image is rotated about its centre by U(−r, r) degrees (black
            outside) before the synthesis (0, the default: none; the reference rotates bottle, grid,
            hazelnut, leather, tile, carpet and screw by a multiple of 90° plus up to ±5°).

    Example:
        >>> m = DeSTSeg(image_size=64, backbone="resnet18", pretrained=False, student_width=4,
        ...             seg_width=8).eval()
        >>> m.predict(torch.rand(2, 3, 64, 64)).anomaly_map.shape
        torch.Size([2, 64, 64])
    """

    family = "distillation"
    paper = (
        "Zhang, Li, Li, Huang, Shan, Chen, DeSTSeg: segmentation guided denoising student-teacher for "
        "anomaly detection, CVPR 2023"
    )
    uses_synthetic = True
    default_recipe = "draem"
    # Magnetic tile at 128 px: 6 epochs (1 student, 5 segmentation) ≈ 150 CPU s on one thread; see README.
    default_epochs = 6
    default_batch_size = 16
    default_lr = 0.4
    supervision = ("unsupervised", "full")

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        backbone: str | None = None,
        layers: Sequence[int] = (1, 2, 3),
        pretrained: bool = True,
        weights: str | None = None,
        backbone_from: str | None = None,
        student_width: int = 32,
        student_blocks: int = 2,
        seg_width: int = 64,
        aspp_rates: Sequence[int] | None = None,
        student_fraction: float = 0.2,
        optimizer: str = "sgd",
        seg_lr: float = 0.1,
        head_lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        focal_gamma: float = 4.0,
        focal_weight: float = 1.0,
        l1_weight: float = 1.0,
        top_k: int = 100,
        output: str = "segmentation",
        balance: str = "pixel",
        memory: int = 0,
        sigma: float = 0.0,
        rotation: float = 0.0,
        weights_source: str | None = None,
    ) -> None:
        if aspp_rates is not None:
            if isinstance(aspp_rates, (str, bytes)) or not len(aspp_rates):
                raise ConfigError(
                    f"expected `aspp_rates` to be a non-empty list of positive ints, got {aspp_rates!r}"
                )
            aspp_rates = [check_positive_int(r, "aspp_rates[]") for r in aspp_rates]
        super().__init__(
            image_size,
            channels,
            backbone=backbone,
            layers=layers,
            pretrained=pretrained,
            weights=weights,
            backbone_from=backbone_from,
            weights_source=weights_source,
            student_width=check_positive_int(student_width, "student_width"),
            student_blocks=check_positive_int(student_blocks, "student_blocks"),
            seg_width=check_positive_int(seg_width, "seg_width"),
            aspp_rates=aspp_rates,
            student_fraction=check_range(student_fraction, 0.0, 1.0, "student_fraction"),
            optimizer=check_choice(optimizer, ("sgd", "adam"), "optimizer"),
            seg_lr=check_range(seg_lr, 1e-12, 100.0, "seg_lr"),
            head_lr=check_range(head_lr, 1e-12, 100.0, "head_lr"),
            momentum=check_range(momentum, 0.0, 1.0, "momentum"),
            weight_decay=check_range(weight_decay, 0.0, 1.0, "weight_decay"),
            focal_gamma=check_range(focal_gamma, 0.0, 10.0, "focal_gamma"),
            focal_weight=check_range(focal_weight, 0.0, 1e3, "focal_weight"),
            l1_weight=check_range(l1_weight, 0.0, 1e3, "l1_weight"),
            top_k=check_positive_int(top_k, "top_k"),
            output=check_choice(output, ("segmentation", "student"), "output"),
            balance=check_choice(balance, ("pixel", "defect"), "balance"),
            memory=int(check_range(memory, 0, 1 << 20, "memory")),
            sigma=check_range(sigma, 0.0, 64.0, "sigma"),
            rotation=check_range(rotation, 0.0, 180.0, "rotation"),
        )
        hp = self._hparams
        self.student = DenoisingStudent(
            self.channels,
            self.feature_channels,
            self.feature_strides,
            hp["student_width"],
            hp["student_blocks"],
        )
        rates = hp["aspp_rates"] or scaled_rates(self.image_size)
        self.memory = NormalMemory(self.feature_channels, hp["memory"]) if hp["memory"] else None
        extra = len(self.feature_channels) if self.memory is not None else 0
        self.segmentation = SegmentationHead(sum(self.feature_channels) + extra, hp["seg_width"], rates)
        # The phase of the current epoch, a pure function of (epoch, epochs) set by on_epoch_start; both
        # until then, so that a training step outside the trainer exercises both networks.
        self.train_student = True
        self.train_segmentation = True

    # ------------------------------------------------------------------ networks
    def student_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The student's features of ``images`` in [0, 1], on the teacher's grids."""
        # ImageNet's mean and std averaged over the channels (the stem's BatchNorm absorbs the rest).
        feats = self.student((images - 0.449) / 0.226)
        return [
            s if s.shape[-2:] == t else F.interpolate(s, size=t, mode="bilinear", align_corners=False)
            for s, t in zip(feats, self._grids(images), strict=True)
        ]

    def _grids(self, images: torch.Tensor) -> list[tuple[int, int]]:
        h, w = images.shape[-2:]
        return [(-(-h // s), -(-w // s)) for s in self.feature_strides]

    def segment(self, teacher: Sequence[torch.Tensor], student: Sequence[torch.Tensor]) -> torch.Tensor:
        """B×1×h×w logits on the finest grid from ``−t̂ ⊙ ŝ`` of every level (the reference's input)."""
        size = teacher[0].shape[-2:]
        maps = [
            -F.normalize(t.float(), dim=1) * F.normalize(s.float(), dim=1)
            for t, s in zip(teacher, student, strict=True)
        ]
        if self.memory is not None:
            if not bool(self.memory.ready):
                raise ConfigError(
                    "destseg: `memory` needs the pass over the whole normal training images before training "
                    "(not available with --crop)"
                )
            maps += self.memory.distances(teacher)
        x = torch.cat([F.interpolate(m, size=size, mode="bilinear", align_corners=False) for m in maps], 1)
        return self.segmentation(x)

    def train_rotation(self) -> tuple[float, float] | None:
        r = float(self._hparams["rotation"])
        return (1.0, r) if r > 0 else None

    @torch.no_grad()
    def on_train_start(self, dataset) -> None:
        """With ``memory``: fill it from the normal training images, in row order (kept on resume)."""
        if self.memory is None or bool(self.memory.ready):
            return
        chunks = (images for _, images in image_chunks(dataset, self.memory.mean.device))
        self.memory.build(self.features, chunks, len(dataset))

    # ------------------------------------------------------------------ training
    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        if epochs <= 1:
            self.train_student = self.train_segmentation = True
            return
        student_epochs = min(epochs - 1, max(1, round(self._hparams["student_fraction"] * epochs)))
        self.train_student = epoch < student_epochs
        self.train_segmentation = not self.train_student

    def train(self, mode: bool = True) -> DeSTSeg:
        """Training mode for the networks of the current phase; the idle one (and the teacher) stays in
        eval mode so that its BatchNorm statistics do not move."""
        super().train(mode)
        if mode and not self.train_student:
            self.student.eval()
        if mode and not self.train_segmentation:
            self.segmentation.eval()
        return self

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        hp = self._hparams
        lr = lr or self.default_lr
        seg = [
            {"params": list(self.segmentation.res.parameters()), "lr": hp["seg_lr"]},
            {"params": list(self.segmentation.head.parameters()), "lr": hp["head_lr"]},
        ]
        if hp["optimizer"] == "sgd":
            kw = {"momentum": hp["momentum"], "weight_decay": hp["weight_decay"]}
            return [
                (torch.optim.SGD(self.student.parameters(), lr=lr, **kw), None),
                (torch.optim.SGD(seg, lr=hp["seg_lr"], **kw), None),
            ]
        kw = {"weight_decay": hp["weight_decay"]}
        return [
            (torch.optim.Adam(self.student.parameters(), lr=lr, **kw), None),
            (torch.optim.Adam(seg, lr=hp["seg_lr"], **kw), None),
        ]

    def training_step(
        self, batch: dict[str, torch.Tensor], optimizer_idx: int = 0
    ) -> dict[str, torch.Tensor] | None:
        aug = batch["aug_image"]
        if optimizer_idx == 0:
            if not self.train_student:
                return None
            # Denoising: the student sees the synthetic defect, the target is the clean image's teacher.
            clean, aug = batch["image"], aug
            real = batch.get("real_label")
            if real is not None and bool((real > 0).any()):
                # A real defective photo has no clean version to regress: the student skips it.
                keep = real == 0
                if not bool(keep.any()):
                    return None
                clean, aug = clean[keep], aug[keep]
            return cosine_distance_loss(self.features(clean), self.student_features(aug))
        if not self.train_segmentation:
            return None
        with torch.no_grad():
            student = self.student_features(aug)
        logits = self.segment(self.features(aug), student)
        # The loss at input resolution (the reference: at stride 4, mask resized and thresholded), so
        # that defects thinner than 4 px stay in the target.
        logits = F.interpolate(logits, size=aug.shape[-2:], mode="bilinear", align_corners=False)
        hp = self._hparams
        return segmentation_loss(
            logits, batch["aug_mask"], hp["focal_gamma"], hp["focal_weight"], hp["l1_weight"], hp["balance"]
        )

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        teacher, student = self.features(images), self.student_features(images)
        size = tuple(images.shape[-2:])
        if self._hparams["output"] == "student":
            amap = torch.ones(images.shape[0], *size, device=images.device)
            for t, s in zip(teacher, student, strict=True):
                d = 1.0 - F.cosine_similarity(t.float(), s.float(), dim=1)
                amap = amap * F.interpolate(d[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
        else:
            logits = F.interpolate(
                self.segment(teacher, student), size=size, mode="bilinear", align_corners=False
            )
            amap = torch.sigmoid(logits.float())[:, 0]
        amap = amap.float()
        k = min(self._hparams["top_k"], amap[0].numel())
        score = amap.flatten(1).topk(k, 1).values.mean(1)
        return Prediction(anomaly_map=gaussian_blur2d(amap, self._hparams["sigma"]), score=score)

"""CS-Flow (Rudolph et al., WACV 2022): a fully convolutional cross-scale normalising flow.

Three feature maps of the frozen pretrained backbone at three scales (here: the bundled EfficientNet-Lite0
levels 1-3, strides 4, 8, 16, with 24, 40 and 112 channels; the paper feeds EfficientNet-B5 features of
the image at three resolutions) pass *jointly* through ``coupling_blocks`` cross-scale affine couplings.
Each block splits every scale's channels into two halves; the subnet that produces the scale and shift
of one half sees the other half of *all* scales: each of its layers is a "cross convolution", the sum
per scale of a 3×3 conv of the same scale, a stride-2 conv of the next finer scale and an upsampled conv
of the next coarser one (the paper's Fig. 3). Log-scales are soft-clamped, ``clamp·0.636·atan(s/clamp)``
(clamp 3), and a fixed seeded channel permutation per scale follows every block.

Loss: the negative log-likelihood under a standard normal base, ``mean_batch(½‖z‖² − log|det J|)``
over all scales, divided by the number of latent dimensions. Image score: mean of ``z²`` over all
scales and positions (the paper's). Map: per position ``mean_c z²``, per scale, upsampled bilinearly and
averaged over scales (the paper localises with the per-position ``‖z‖²``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.distillation import FrozenBackboneModel, combine_maps
from adsynth.zoo.components.flows import float32


class CrossConv(nn.Module):
    """One cross-scale convolution layer: per scale i, ``conv_k(x_i) + down(x_{i−1}) + up(x_{i+1})``
    (scale 0 the finest); ``down`` a stride-2 3×3 conv, ``up`` a 3×3 conv then bilinear resize."""

    def __init__(self, cin: Sequence[int], cout: Sequence[int], kernel: int = 3) -> None:
        super().__init__()
        n = len(cin)
        self.same = nn.ModuleList(nn.Conv2d(cin[i], cout[i], kernel, padding=kernel // 2) for i in range(n))
        self.down = nn.ModuleList(
            nn.Conv2d(cin[i - 1], cout[i], 3, stride=2, padding=1, bias=False) for i in range(1, n)
        )
        self.up = nn.ModuleList(
            nn.Conv2d(cin[i + 1], cout[i], 3, padding=1, bias=False) for i in range(n - 1)
        )

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for i, x in enumerate(xs):
            y = self.same[i](x)
            if i > 0:
                d = self.down[i - 1](xs[i - 1])
                y = y + (d if d.shape[-2:] == y.shape[-2:] else F.adaptive_avg_pool2d(d, y.shape[-2:]))
            if i < len(xs) - 1:
                y = y + F.interpolate(
                    self.up[i](xs[i + 1]), size=y.shape[-2:], mode="bilinear", align_corners=False
                )
            out.append(y)
        return out


class CrossSubnet(nn.Module):
    """Two cross convolutions with a leaky ReLU between them: ``cin`` per scale → 2·``cout`` (log-scale,
    shift). The last layer starts at zero, so every block starts as the identity."""

    def __init__(self, cin: Sequence[int], cout: Sequence[int], hidden: int, kernel: int) -> None:
        super().__init__()
        self.first = CrossConv(cin, [hidden] * len(cin), kernel)
        self.last = CrossConv([hidden] * len(cin), [2 * c for c in cout], kernel)
        for p in self.last.parameters():
            nn.init.zeros_(p)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.last([F.leaky_relu(h, 0.1) for h in self.first(xs)])


class CrossScaleCoupling(nn.Module):
    """A cross-scale affine coupling block (both halves updated in turn) followed by a fixed channel
    permutation per scale."""

    def __init__(self, channels: Sequence[int], hidden: int, kernel: int, clamp: float, gen: torch.Generator):
        super().__init__()
        self.clamp = float(clamp)
        self.c1 = [c // 2 for c in channels]
        self.c2 = [c - h for c, h in zip(channels, self.c1, strict=True)]
        self.net1 = CrossSubnet(self.c2, self.c1, hidden, kernel)  # x2 → affine of x1
        self.net2 = CrossSubnet(self.c1, self.c2, hidden, kernel)  # y1 → affine of x2
        for i, c in enumerate(channels):
            self.register_buffer(f"perm{i}", torch.randperm(c, generator=gen))

    def _affine(self, net: CrossSubnet, cond: list[torch.Tensor], xs: list[torch.Tensor]):
        ys, log_det = [], 0.0
        for x, st in zip(xs, net(cond), strict=True):
            s, t = st.chunk(2, dim=1)
            s = self.clamp * 0.636 * torch.atan(s / self.clamp)
            ys.append(x * torch.exp(s) + t)
            log_det = log_det + s.flatten(1).sum(1)
        return ys, log_det

    def forward(self, xs: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        x1 = [x[:, :c] for x, c in zip(xs, self.c1, strict=True)]
        x2 = [x[:, c:] for x, c in zip(xs, self.c1, strict=True)]
        y1, ld1 = self._affine(self.net1, x2, x1)
        y2, ld2 = self._affine(self.net2, y1, x2)
        out = [
            torch.cat([a, b], 1)[:, getattr(self, f"perm{i}")]
            for i, (a, b) in enumerate(zip(y1, y2, strict=True))
        ]
        return out, ld1 + ld2


class ClippedAdam(torch.optim.Adam):
    """Adam that clips the gradient norm of its parameters to ``max_norm`` (if > 0) before each step."""

    max_norm: float = 0.0

    def step(self, closure=None):
        if self.max_norm > 0:
            params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params, self.max_norm)
        return super().step(closure)


@register_model("csflow")
class CSFlow(FrozenBackboneModel):
    """CS-Flow: one cross-scale fully convolutional flow over three levels of a frozen backbone.

    Args:
        image_size, channels: resolution (a multiple of the deepest stride) and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the frozen backbone (default bundled
            ImageNet EfficientNet-Lite0, levels 1-3 = strides 4, 8, 16).
        coupling_blocks: cross-scale couplings (4).
        hidden: channels of the subnets' hidden cross convolution (1024, the paper's ``fc_internal``).
        kernel_sizes: per block, kernel of the same-scale convs (paper ``[3, 3, 3, 5]``).
        clamp: soft clamping of the log-scales (3).
        grad_clip: clipping of the gradient norm before each Adam step (1.0, the paper's; 0: off).
        image_score: ``"mean"`` of ``z²`` over all scales and positions (the paper's) or ``"max"`` of
            the anomaly map (better for small defects in short runs; see the README).
        seed: seed of the channel permutations.
        cache_features: reuse each training image's frozen features across epochs.
    """

    family = "flow"
    paper = (
        "Rudolph et al., Fully Convolutional Cross-Scale-Flows for Image-based Defect Detection, WACV 2022"
    )
    default_epochs = 240
    default_batch_size = 16
    default_lr = 2e-4
    caches_features = True

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        coupling_blocks: int = 4,
        hidden: int = 1024,
        kernel_sizes: Sequence[int] = (3, 3, 3, 5),
        clamp: float = 3.0,
        grad_clip: float = 1.0,
        image_score: str = "mean",
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        kernels = [check_positive_int(k, "kernel_sizes[]") for k in kernel_sizes]
        n = check_positive_int(coupling_blocks, "coupling_blocks")
        if len(kernels) != n:
            raise ConfigError(f"expected {n} `kernel_sizes` (one per coupling block), got {len(kernels)}")
        if any(k % 2 == 0 for k in kernels):
            raise ConfigError(f"expected odd `kernel_sizes`, got {kernels}")
        super().__init__(
            image_size,
            channels,
            coupling_blocks=n,
            hidden=check_positive_int(hidden, "hidden"),
            kernel_sizes=kernels,
            clamp=check_range(clamp, 1e-3, 100.0, "clamp"),
            grad_clip=check_range(grad_clip, 0.0, 1e6, "grad_clip"),
            image_score=str(image_score),
            seed=int(seed),
            **backbone_options,
        )
        if image_score not in ("mean", "max"):
            raise ConfigError(f"expected `image_score` 'mean' or 'max', got {image_score!r}")
        if len(self.feature_channels) < 2:
            raise ConfigError(
                f"csflow needs at least two feature levels, got layers={self._hparams['layers']}"
            )
        for s in self.feature_strides:
            if self.image_size % s:
                raise ConfigError(f"expected `image_size` to be a multiple of {s}, got {self.image_size}")
        gen = torch.Generator().manual_seed(int(seed))
        self.blocks = nn.ModuleList(
            CrossScaleCoupling(self.feature_channels, hidden, k, clamp, gen) for k in kernels
        )

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``(z per scale B×C×h×w, log|det J| B)``, in float32."""
        return self._flow(self.features(images))

    def _flow(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
        with float32(feats[0].device):
            zs, log_det = [f.float() for f in feats], 0.0
            for block in self.blocks:
                zs, ld = block(zs)
                log_det = log_det + ld
        return zs, log_det

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        params = [p for p in self.parameters() if p.requires_grad]
        opt = ClippedAdam(params, lr=lr or self.default_lr, weight_decay=1e-5)
        opt.max_norm = self._hparams["grad_clip"]
        return opt, None

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        zs, log_det = self._flow(self.train_features(batch))
        dims = sum(z[0].numel() for z in zs)
        sq = sum(z.flatten(1).pow(2).sum(1) for z in zs)
        loss = (0.5 * sq - log_det).mean() / dims
        return {"loss": loss, "log_det": (log_det.mean() / dims).detach()}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        zs, _ = self(images)
        maps = [z.pow(2).mean(1) for z in zs]
        amap = combine_maps(maps, tuple(images.shape[-2:]), "mean")
        if self._hparams["image_score"] == "max":
            score = amap.flatten(1).amax(1)
        else:
            score = sum(z.flatten(1).pow(2).sum(1) for z in zs) / sum(z[0].numel() for z in zs)
        return Prediction(anomaly_map=amap.float(), score=score.float())

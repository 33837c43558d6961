"""Reverse distillation (Deng & Li, CVPR 2022): teacher encoder → one-class bottleneck → student decoder.

The frozen pretrained encoder gives feature maps at several levels. The one-class bottleneck embedding
(OCBE) brings every level to the deepest level's resolution with strided convolutions (multi-scale
feature fusion), concatenates them and compresses the result with residual blocks into one low-resolution
embedding. The student decoder upsamples that embedding back, level by level, and must reproduce the
encoder's features at each level. Loss: Σ_levels (1 − cos) of the flattened feature maps. Anomaly map:
Σ_levels of the upsampled per-position cosine distance, Gaussian-blurred (σ = 4); score: its max.
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
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.distillation import (
    FrozenBackboneModel,
    ResidualBlock,
    combine_maps,
    conv_bn_relu,
    cosine_distance_maps,
)


def _log2_ratio(big: int, small: int) -> int:
    ratio = big // small
    if ratio * small != big or ratio & (ratio - 1):
        raise ConfigError(f"expected feature strides that are powers of two apart, got {small} and {big}")
    return ratio.bit_length() - 1


class OneClassBottleneck(nn.Module):
    """Multi-scale feature fusion to the deepest level's stride, then residual blocks to an embedding of
    ``embed_dim`` channels at twice that stride (the paper's OCBE: MFF + OCE)."""

    def __init__(self, channels: Sequence[int], strides: Sequence[int], embed_dim: int, blocks: int) -> None:
        super().__init__()
        width = channels[-1]
        self.fuse = nn.ModuleList()
        for c, s in zip(channels, strides, strict=True):
            n = _log2_ratio(strides[-1], s)
            convs = [conv_bn_relu(c if i == 0 else width, width, 3, 2) for i in range(n)]
            self.fuse.append(nn.Sequential(*convs) if convs else nn.Identity())
        layers = [ResidualBlock(width * len(channels), embed_dim, stride=2)]
        layers += [ResidualBlock(embed_dim, embed_dim) for _ in range(blocks - 1)]
        self.embed = nn.Sequential(*layers)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.embed(torch.cat([f(x) for f, x in zip(self.fuse, feats, strict=True)], dim=1))


class StudentDecoder(nn.Module):
    """From the embedding back to every encoder level (deepest first): a transposed-conv upsampling and a
    residual block per level, and a linear 1×1 head that outputs that level's channels (the encoder's
    features are signed: a block's output after its last BatchNorm, no activation)."""

    def __init__(
        self, channels: Sequence[int], strides: Sequence[int], embed_dim: int, widths: Sequence[int]
    ) -> None:
        super().__init__()
        self.up, self.heads = nn.ModuleList(), nn.ModuleList()
        cin, prev = embed_dim, strides[-1] * 2
        for c, s, w in zip(reversed(channels), reversed(strides), widths, strict=True):
            f = prev // s
            _log2_ratio(prev, s)
            self.up.append(
                nn.Sequential(
                    nn.ConvTranspose2d(cin, w, f, f, bias=False),
                    nn.BatchNorm2d(w),
                    nn.ReLU(inplace=True),
                    ResidualBlock(w, w),
                )
            )
            self.heads.append(nn.Conv2d(w, c, 1))
            cin, prev = w, s

    def forward(self, z: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for up, head in zip(self.up, self.heads, strict=True):
            z = up(z)
            outs.append(head(z))
        return outs[::-1]  # shallowest level first, as the encoder's


@register_model("reverse-distillation")
class ReverseDistillation(FrozenBackboneModel):
    """Reverse distillation: a student decoder reconstructs the frozen encoder's multi-level features
    from a one-class bottleneck embedding.

    Args:
        image_size, channels: resolution (a multiple of twice the deepest stride) and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the frozen encoder (default bundled
            ImageNet EfficientNet-Lite0, levels 1-3 = strides 4, 8, 16, the paper's WRN-50 layer1-3).
        embed_dim: channels of the bottleneck embedding (at twice the deepest stride).
        bottleneck_blocks: residual blocks of the OCE (the paper: one ResNet stage of 3 blocks).
        decoder_widths: width of each decoder stage, deepest level first (None: 2× that level's
            channels, at least 64).
        sigma: Gaussian blur of the map in pixels (4).
        cache_features: reuse the frozen features of each training image across epochs (see
            :class:`~adsynth.zoo.components.distillation.FrozenBackboneModel`).
    """

    family = "distillation"
    paper = "Deng & Li, Anomaly Detection via Reverse Distillation from One-Class Embedding, CVPR 2022"
    default_epochs = 200
    default_batch_size = 16
    default_lr = 0.005
    caches_features = True

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        embed_dim: int = 320,
        bottleneck_blocks: int = 3,
        decoder_widths: Sequence[int] | None = None,
        sigma: float = 4.0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            embed_dim=check_positive_int(embed_dim, "embed_dim"),
            bottleneck_blocks=check_positive_int(bottleneck_blocks, "bottleneck_blocks"),
            decoder_widths=None if decoder_widths is None else [int(w) for w in decoder_widths],
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            **backbone_options,
        )
        chans, strides = self.feature_channels, self.feature_strides
        top = 2 * strides[-1]
        if self.image_size % top:
            raise ConfigError(f"expected `image_size` to be a multiple of {top}, got {self.image_size}")
        widths = decoder_widths or [max(64, 2 * c) for c in reversed(chans)]
        if len(widths) != len(chans):
            raise ConfigError(f"expected {len(chans)} `decoder_widths` (one per layer), got {list(widths)}")
        widths = [check_positive_int(w, "decoder_widths[]") for w in widths]
        self.bottleneck = OneClassBottleneck(chans, strides, embed_dim, bottleneck_blocks)
        self.decoder = StudentDecoder(chans, strides, embed_dim, widths)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        params = list(self.bottleneck.parameters()) + list(self.decoder.parameters())
        # The reference code's Adam betas (0.5, 0.999).
        return torch.optim.Adam(params, lr=lr or self.default_lr, betas=(0.5, 0.999)), None

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(encoder features, decoder features), shallowest level first."""
        enc = self.features(images)
        return enc, self.decoder(self.bottleneck(enc))

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        enc = self.train_features(batch)
        dec = self.decoder(self.bottleneck(enc))

        terms = {}
        for i, (e, d) in enumerate(zip(enc, dec, strict=True)):
            # The reference code's loss: cosine distance of the whole flattened map of each image.
            cos = F.cosine_similarity(e.flatten(1), d.float().flatten(1), dim=1)
            terms[f"loss_l{self._hparams['layers'][i]}"] = (1 - cos).mean()
        return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        enc, dec = self(images)
        amap = combine_maps(cosine_distance_maps(enc, dec), tuple(images.shape[-2:]), "sum")
        amap = gaussian_blur2d(amap, self._hparams["sigma"])
        return Prediction(anomaly_map=amap.float(), score=amap.flatten(1).amax(1).float())

"""FAVAE, feature-augmented VAE (Dehaene & Eline, "Anomaly localization by modeling perceptual features",
arXiv 2008.05369), after the unofficial reference code ``xiahaifeng1995/FAVAE-anomaly-detection-
localization-master``.

A convolutional VAE trained from scratch. Besides reconstructing the image, its decoder's intermediate
activations, each through a 1×1 adapter (conv, ReLU, conv), regress the frozen pretrained network's
feature maps of the *input* at the same stride, so that the decoder models perceptual features.
Loss per image (the code's sum reductions): ``Σ (x̂ − x)² + Σ_levels Σ (a_l − t_l)² + w_KL·KL``.

Map (the code's ``test``): per pixel the squared reconstruction error summed over channels plus, per
level, the squared feature error summed over channels, upsampled bilinearly to the image; then a
Gaussian blur (σ = 4 px). Inference decodes the posterior mean. Image score: the map's max (the
reference code scores pixels only).
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
from adsynth.zoo.components.distillation import FrozenBackboneModel

#: Stride of the VAE's last spatial map before the latent code (8×8 at 128 px, as the code).
BOTTLENECK_STRIDE = 16


def _block(cin: int, cout: int, up: bool) -> nn.Sequential:
    """A stride-2 (transposed) 4×4 conv and a 3×3 conv, each with BatchNorm and leaky ReLU 0.2."""
    conv = nn.ConvTranspose2d if up else nn.Conv2d
    return nn.Sequential(
        conv(cin, cout, 4, 2, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2),
    )


def stage_width(stride: int, width: int) -> int:
    """Channels at ``stride`` (the code's 128, 256, 512, 512 at strides 2, 4, 8, 16 for width 128)."""
    return width * min(stride // 2, 4)


class FeatureVAE(nn.Module):
    """Encoder to a ``latent_dim`` Gaussian code at 1×1, decoder back to the image whose activations at
    the strides in ``tap_strides`` are returned with the reconstruction.

    Args:
        channels: image channels.
        image_size: multiple of 16, at least 32.
        latent_dim: size of the code.
        width: channels at stride 2 (doubling to 4× at stride 8 and beyond).
        tap_strides: decoder strides to read out (each in 2, 4, 8, 16).
    """

    def __init__(
        self, channels: int, image_size: int, latent_dim: int, width: int, tap_strides: Sequence[int]
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        side = image_size // BOTTLENECK_STRIDE
        enc: list[nn.Module] = []
        c, s = channels, 1
        while s < BOTTLENECK_STRIDE:
            s *= 2
            enc.append(_block(c, stage_width(s, width), up=False))
            c = stage_width(s, width)
        self.encoder = nn.Sequential(
            *enc,
            nn.Conv2d(c, 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, 2 * latent_dim, side),
        )
        top = stage_width(BOTTLENECK_STRIDE, width)
        self.stem = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 32, side, bias=False),
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2),
            nn.Conv2d(32, top, 3, 1, 1, bias=False),
            nn.BatchNorm2d(top),
            nn.LeakyReLU(0.2),
        )
        self.up = nn.ModuleList()
        self.strides = [BOTTLENECK_STRIDE]
        c, s = top, BOTTLENECK_STRIDE
        while s > 2:
            s //= 2
            self.up.append(_block(c, stage_width(s, width), up=True))
            self.strides.append(s)
            c = stage_width(s, width)
        self.head = nn.ConvTranspose2d(c, channels, 4, 2, 1)
        self.tap_strides = [int(t) for t in tap_strides]
        self.tap_channels = [stage_width(t, width) for t in self.tap_strides]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x).flatten(1)
        mu, logvar = h[:, : self.latent_dim], h[:, self.latent_dim :]
        return mu, logvar.clamp(-10.0, 10.0)  # bounded so that exp() cannot overflow early in training

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(reconstruction in [0, 1], decoder activations at ``tap_strides`` in that order)."""
        h = self.stem(z[:, :, None, None])
        acts = {BOTTLENECK_STRIDE: h}
        for s, block in zip(self.strides[1:], self.up, strict=True):
            h = block(h)
            acts[s] = h
        return torch.sigmoid(self.head(h)), [acts[t] for t in self.tap_strides]


def adapter(cin: int, cout: int) -> nn.Sequential:
    """The code's adapter (1×1 conv, ReLU, 1×1 conv), here also changing the channel count."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU(), nn.Conv2d(cout, cout, 1))


@register_model("favae")
class FAVAE(FrozenBackboneModel):
    """A VAE whose decoder also reconstructs a pretrained network's features of the input.

    Args:
        image_size, channels: resolution (a multiple of 16, at least 32) and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the frozen feature network (default
            bundled ImageNet EfficientNet-Lite0, levels 1-3 = strides 4, 8, 16, for the code's VGG-16
            conv2_2, conv3_3, conv4_3 at strides 2, 4, 8); each level's stride must be 2-16.
        latent_dim: size of the code (100, the code's ``z_dim``).
        width: channels of the VAE at stride 2 (128, as the code; 256 and 512 deeper).
        kld_weight: weight of the KL term (1).
        weight_decay: of Adam (1e-5; lr 0.005 as the code).
        sigma: Gaussian blur of the map in pixels (4).
        cache_features: reuse each training image's frozen features across epochs.

    Example:
        >>> import torch
        >>> m = FAVAE(image_size=64, width=8, latent_dim=8, pretrained=False).eval()
        >>> tuple(m.predict(torch.rand(2, 3, 64, 64)).anomaly_map.shape)
        (2, 64, 64)
    """

    family = "reconstruction"
    paper = "Dehaene & Eline, Anomaly localization by modeling perceptual features, arXiv 2008.05369 (2020)"
    default_epochs = 100
    default_batch_size = 64
    default_lr = 5e-3
    caches_features = True

    def __init__(
        self,
        image_size: int = 128,
        channels: int = 3,
        latent_dim: int = 100,
        width: int = 128,
        kld_weight: float = 1.0,
        weight_decay: float = 1e-5,
        sigma: float = 4.0,
        **backbone_options: Any,
    ) -> None:
        if check_positive_int(image_size, "image_size") < 32 or image_size % 16:
            raise ConfigError(f"expected `image_size` to be a multiple of 16 >= 32, got {image_size!r}")
        super().__init__(
            image_size,
            channels,
            latent_dim=check_positive_int(latent_dim, "latent_dim"),
            width=check_positive_int(width, "width"),
            kld_weight=check_range(kld_weight, 0.0, 1e6, "kld_weight"),
            weight_decay=check_range(weight_decay, 0.0, 1.0, "weight_decay"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            **backbone_options,
        )
        bad = [s for s in self.feature_strides if s not in (2, 4, 8, 16)]
        if bad:
            raise ConfigError(f"expected `layers` whose strides are 2, 4, 8 or 16, got strides {bad}")
        self.vae = FeatureVAE(self.channels, self.image_size, latent_dim, width, self.feature_strides)
        self.adapters = nn.ModuleList(
            adapter(cin, cout) for cin, cout in zip(self.vae.tap_channels, self.feature_channels, strict=True)
        )

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        params = [*self.vae.parameters(), *self.adapters.parameters()]
        opt = torch.optim.Adam(params, lr=lr or self.default_lr, weight_decay=self._hparams["weight_decay"])
        return opt, None

    def forward(self, images: torch.Tensor, z: torch.Tensor | None = None):
        """(reconstruction, adapted decoder features per level) of ``z`` (default the posterior mean)."""
        if z is None:
            z = self.vae.encode(images)[0]
        rec, acts = self.vae.decode(z)
        return rec, [a(x) for a, x in zip(self.adapters, acts, strict=True)]

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        teacher = self.train_features(batch)
        mu, logvar = self.vae.encode(x)
        rec, feats = self(x, mu + torch.randn_like(mu) * (0.5 * logvar).exp())
        n = len(x)
        terms = {"rec": (rec.float() - x).pow(2).sum() / n}
        for layer, f, t in zip(self._hparams["layers"], feats, teacher, strict=True):
            terms[f"feat_l{layer}"] = (f.float() - t).pow(2).sum() / n
        terms["kl"] = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum() / n
        loss = sum(v for k, v in terms.items() if k != "kl") + self._hparams["kld_weight"] * terms["kl"]
        return {"loss": loss, **{k: v.detach() for k, v in terms.items()}}

    @torch.no_grad()
    def error_map(self, images: torch.Tensor) -> torch.Tensor:
        """B×H×W squared reconstruction error plus the upsampled per-level feature errors (unsmoothed)."""
        teacher = self.features(images)
        rec, feats = self(images)
        amap = (rec.float() - images).pow(2).sum(1)
        for f, t in zip(feats, teacher, strict=True):
            e = (f.float() - t).pow(2).sum(1, keepdim=True)
            amap = amap + F.interpolate(e, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        return amap

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        amap = gaussian_blur2d(self.error_map(images), self._hparams["sigma"])
        return Prediction(anomaly_map=amap.float(), score=amap.flatten(1).amax(1).float())

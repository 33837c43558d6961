"""f-AnoGAN (Schlegl, Seeböck, Waldstein, Langs, Schmidt-Erfurth, Medical Image Analysis 2019).

Two phases, split by epoch: a Wasserstein GAN with gradient penalty (generator G, critic D) learns the
normal images from noise; then an encoder E is trained with G and D frozen so that G(E(x)) reproduces x
both in pixels and in the critic's features (the "izi_f" architecture). An anomaly is what G cannot
produce from any code: a large residual in pixels or in critic features.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.adversarial import gradient_penalty, split_epoch
from adsynth.zoo.components.dcgan import (
    DCGANDecoder,
    DCGANEncoder,
    check_gan_size,
    dcgan_init,
    to_signed,
    to_unit,
)
from adsynth.zoo.components.maps import residual_map


class Critic(nn.Module):
    """WGAN-GP critic: DCGAN stages with layer norm (no batch norm, which would break the per-sample
    gradient penalty), then a linear output on the flattened last map (its features, f_D)."""

    def __init__(self, channels: int, image_size: int, width: int, max_width: int) -> None:
        super().__init__()
        self.encoder = DCGANEncoder(channels, image_size, width, 1, max_width, norm="layer")
        self.out = nn.Linear(self.encoder.feature_dim, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))[:, 0]


@register_model("fanogan")
class FAnoGAN(AnomalyModel):
    """f-AnoGAN: WGAN-GP, then an izi_f encoder.

    Args:
        image_size: side of the square input, a power of two ≥ 16 (paper: 64).
        channels: 1 or 3.
        latent_dim: size of z (paper: 128), z ~ N(0, I).
        width: channels of the first critic/encoder stage, doubled per stage (paper ``DIM``: 64).
        max_width: cap on the doubling.
        gan_fraction: fraction of the epochs spent on the WGAN-GP; the rest trains the encoder.
        n_critic: critic updates per generator update (WGAN-GP: 5).
        gp_weight: λ of the gradient penalty (10).
        kappa: weight κ of the critic-feature residual in the encoder loss and the score (1).
        encoder_lr_ratio: encoder learning rate / GAN learning rate (paper: 5e-5 / 1e-4).
        map_kernel: mean-filter size of the residual map (1: the raw per-pixel residual, as the paper).

    Example:
        >>> import torch
        >>> m = FAnoGAN(image_size=32, width=8, latent_dim=16).eval()
        >>> m.predict(torch.rand(2, 3, 32, 32)).score.shape
        torch.Size([2])
    """

    family: ClassVar[str] = "gan"
    paper: ClassVar[str] = "Schlegl et al., Medical Image Analysis 2019 (f-AnoGAN)"
    default_epochs: ClassVar[int] = 100
    default_batch_size: ClassVar[int] = 64
    default_lr: ClassVar[float] = 1e-4

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        latent_dim: int = 128,
        width: int = 64,
        max_width: int = 512,
        gan_fraction: float = 0.6,
        n_critic: int = 5,
        gp_weight: float = 10.0,
        kappa: float = 1.0,
        encoder_lr_ratio: float = 0.5,
        map_kernel: int = 1,
    ) -> None:
        check_gan_size(int(image_size))
        if int(latent_dim) < 1 or int(width) < 1 or int(max_width) < int(width):
            raise ConfigError(
                "expected positive `latent_dim` and `width` and `max_width` >= `width`, "
                f"got {latent_dim}, {width}, {max_width}"
            )
        if not 0 < float(gan_fraction) < 1:
            raise ConfigError(f"expected `gan_fraction` in (0, 1), got {gan_fraction}")
        if int(n_critic) < 1:
            raise ConfigError(f"expected `n_critic` to be a positive int, got {n_critic}")
        if not (float(gp_weight) >= 0 and float(kappa) >= 0 and float(encoder_lr_ratio) > 0):
            raise ConfigError(
                "expected `gp_weight` >= 0, `kappa` >= 0 and `encoder_lr_ratio` > 0, "
                f"got {gp_weight}, {kappa}, {encoder_lr_ratio}"
            )
        if int(map_kernel) < 1:
            raise ConfigError(f"expected `map_kernel` to be a positive int, got {map_kernel}")
        super().__init__(
            image_size,
            channels,
            latent_dim=int(latent_dim),
            width=int(width),
            max_width=int(max_width),
            gan_fraction=float(gan_fraction),
            n_critic=int(n_critic),
            gp_weight=float(gp_weight),
            kappa=float(kappa),
            encoder_lr_ratio=float(encoder_lr_ratio),
            map_kernel=int(map_kernel),
        )
        self.latent_dim = int(latent_dim)
        self.gan_fraction = float(gan_fraction)
        self.n_critic = int(n_critic)
        self.gp_weight = float(gp_weight)
        self.kappa = float(kappa)
        self.encoder_lr_ratio = float(encoder_lr_ratio)
        self.map_kernel = int(map_kernel)
        s, c, w, mw = self.image_size, self.channels, int(width), int(max_width)
        self.generator = DCGANDecoder(c, s, w, self.latent_dim, mw)
        self.critic = Critic(c, s, w, mw)
        self.encoder = DCGANEncoder(c, s, w, self.latent_dim, mw)
        self.apply(dcgan_init)
        # Critic updates so far (decides when the generator steps); a buffer, so resume is exact.
        self.register_buffer("critic_steps", torch.zeros((), dtype=torch.long))
        self.phase = 0

    # ------------------------------------------------------------------ training
    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.phase = 1 if epoch >= split_epoch(self.gan_fraction, epochs) else 0

    def train(self, mode: bool = True) -> FAnoGAN:
        super().train(mode)
        if self.phase == 1:
            # The encoder phase: G and D are frozen, batch-norm statistics included.
            self.generator.eval()
            self.critic.eval()
        return self

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        lr = lr or self.default_lr
        # WGAN-GP's Adam (β = (0, 0.9)) for G and D; the encoder at half that rate as in the reference.
        return [
            (torch.optim.Adam(self.critic.parameters(), lr=lr, betas=(0.0, 0.9)), None),
            (torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.0, 0.9)), None),
            (torch.optim.Adam(self.encoder.parameters(), lr=lr * self.encoder_lr_ratio), None),
        ]

    def training_step(
        self, batch: dict[str, torch.Tensor], optimizer_idx: int = 0
    ) -> dict[str, torch.Tensor] | None:
        real = to_signed(batch["image"])
        n = real.shape[0]
        if self.phase == 0 and optimizer_idx == 0:
            with torch.no_grad():
                fake = self.generator(torch.randn(n, self.latent_dim, device=real.device))
            wasserstein = self.critic(fake).mean() - self.critic(real).mean()
            gp = gradient_penalty(self.critic, real, fake)
            self.critic_steps += 1
            return {"loss": wasserstein + self.gp_weight * gp, "d_wdist": -wasserstein.detach(), "d_gp": gp}
        if self.phase == 0 and optimizer_idx == 1:
            if int(self.critic_steps) % self.n_critic:
                return None
            fake = self.generator(torch.randn(n, self.latent_dim, device=real.device))
            loss = -self.critic(fake).mean()
            return {"loss": loss, "g_wgan": loss.detach()}
        if self.phase == 1 and optimizer_idx == 2:
            img, feat = self._residuals(real)
            return {"loss": img + self.kappa * feat, "e_img": img.detach(), "e_feat": feat.detach()}
        return None

    def _residuals(self, real: torch.Tensor, per_image: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        rec = self.generator(self.encoder(real))
        f_real, f_rec = self.critic.features(real), self.critic.features(rec)
        if per_image:
            return (rec - real).float().pow(2).flatten(1).mean(1), (f_rec - f_real).float().pow(2).mean(1)
        return F.mse_loss(rec, real), F.mse_loss(f_rec, f_real)

    # ------------------------------------------------------------------ inference
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """G(E(x)) of images in [0, 1], in [0, 1]."""
        return to_unit(self.generator(self.encoder(to_signed(images))))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        real = to_signed(images)
        rec = self.generator(self.encoder(real))
        img = (rec - real).float().pow(2).flatten(1).mean(1)
        f_real, f_rec = self.critic.features(real), self.critic.features(rec)
        feat = (f_rec - f_real).float().pow(2).mean(1)
        amap = residual_map(images, to_unit(rec), self.map_kernel)
        return Prediction(anomaly_map=amap, score=img + self.kappa * feat)

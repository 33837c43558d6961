"""A variational autoencoder on the Bergmann et al. encoder/decoder (the VAE baseline of the MVTec papers).

The encoder's last 8×8 convolution outputs ``2·latent_dim`` channels, read as the posterior mean μ and
log-variance; training decodes a reparameterised sample, inference decodes μ.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from adsynth.errors import ConfigError
from adsynth.zoo.base import register_model
from adsynth.zoo.components.bergmann import BergmannModel, bergmann_decoder, bergmann_encoder
from adsynth.zoo.components.losses import reconstruction_loss
from adsynth.zoo.methods.vae.loss import kl_divergence


@register_model("vae")
class VariationalAutoEncoder(BergmannModel):
    """Variational autoencoder scored by the reconstruction error of its posterior mean.

    Args:
        image_size: side of the square input, a power of two >= 32.
        channels: 1 or 3.
        latent_dim: size of the latent code.
        beta: weight of the KL term (β-VAE; 1 is the plain ELBO with a fixed Gaussian likelihood).
        loss: reconstruction term, ``"l2"``, ``"ssim"`` or ``"l2+ssim"``.
        anomaly_map: ``"l2"`` or ``"ssim"`` (default follows ``loss`` as for ``ae``).
        score_kernel: mean-filter size before the maximum that gives the image score.

    Example:
        >>> import torch
        >>> m = VariationalAutoEncoder(image_size=64).eval()
        >>> m.predict(torch.rand(2, 3, 64, 64)).score.shape
        torch.Size([2])
    """

    family: ClassVar[str] = "reconstruction"
    paper: ClassVar[str] = "Kingma & Welling, ICLR 2014 (VAE baseline of Bergmann et al., IJCV 2021)"
    default_epochs: ClassVar[int] = 100
    default_batch_size: ClassVar[int] = 32
    default_lr: ClassVar[float] = 2e-4

    def __init__(
        self,
        image_size: int = 128,
        channels: int = 3,
        latent_dim: int = 100,
        beta: float = 1.0,
        loss: str = "l2",
        anomaly_map: str | None = None,
        score_kernel: int | None = None,
    ) -> None:
        if not float(beta) >= 0:
            raise ConfigError(f"expected `beta` to be a non-negative number, got {beta}")
        super().__init__(image_size, channels, latent_dim, loss, anomaly_map, score_kernel, beta=float(beta))
        self.latent_dim = int(latent_dim)
        self.beta = float(beta)
        self.encoder = bergmann_encoder(self.channels, self.image_size, 2 * self.latent_dim)
        self.decoder = bergmann_decoder(self.channels, self.image_size, self.latent_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        mu, logvar = h[:, : self.latent_dim], h[:, self.latent_dim :]
        # Bounded so that exp() cannot overflow early in training (or under fp16 autocast).
        return mu, logvar.clamp(-10.0, 10.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of the posterior mean (deterministic)."""
        return self.decoder(self.encode(x)[0])

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        terms = reconstruction_loss(x, self.decoder(z), self.loss_kind)
        # The KL sum over the code is divided by the pixel count, the same normalisation as the
        # per-pixel mean reconstruction terms, so that beta = 1 keeps the ELBO's balance.
        terms["kl"] = kl_divergence(mu, logvar) / x[0].numel()
        return {"loss": sum(v for k, v in terms.items() if k != "kl") + self.beta * terms["kl"], **terms}

"""GANomaly (Akcay, Atapour-Abarghouei, Breckon, ACCV 2018): an encoder-decoder-encoder generator and a
DCGAN discriminator.

The generator maps x to z = E1(x), reconstructs x̂ = Dec(z) and encodes the reconstruction again,
ẑ = E2(x̂). Trained on normal images only, it learns to keep z and ẑ close; an anomaly moves ẑ away from
z. The DCGAN building blocks are :mod:`adsynth.zoo.components.dcgan` (shared with f-AnoGAN and OGNet).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.dcgan import (
    DCGANDecoder,
    DCGANEncoder,
    check_gan_size,
    dcgan_init,
    to_signed,
    to_unit,
)
from adsynth.zoo.components.maps import default_kernel, residual_map


@register_model("ganomaly")
class Ganomaly(AnomalyModel):
    """GANomaly.

    Args:
        image_size: side of the square input, a power of two ≥ 16 (paper default: 32).
        channels: 1 or 3.
        latent_dim: size of z (paper ``nz``: 100).
        width: channels of the first encoder stage, doubled per stage (paper ``ngf = ndf``: 64).
        max_width: cap on the doubling (512; at 256 px the uncapped DCGAN pyramid reaches 2048).
        w_adv, w_con, w_enc: loss weights (paper: 1, 50, 1).
        map_kernel: mean-filter size of the anomaly map |x − x̂|; default about 1/16 of the side.

    Example:
        >>> import torch
        >>> m = Ganomaly(image_size=32, width=8, latent_dim=16).eval()
        >>> p = m.predict(torch.rand(2, 3, 32, 32))
        >>> p.anomaly_map.shape, p.score.shape
        (torch.Size([2, 32, 32]), torch.Size([2]))
    """

    family: ClassVar[str] = "gan"
    paper: ClassVar[str] = "Akcay, Atapour-Abarghouei, Breckon, ACCV 2018"
    default_epochs: ClassVar[int] = 15
    default_batch_size: ClassVar[int] = 64
    default_lr: ClassVar[float] = 2e-4

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        latent_dim: int = 100,
        width: int = 64,
        max_width: int = 512,
        w_adv: float = 1.0,
        w_con: float = 50.0,
        w_enc: float = 1.0,
        map_kernel: int | None = None,
    ) -> None:
        check_gan_size(int(image_size))
        if int(latent_dim) < 1 or int(width) < 1 or int(max_width) < int(width):
            raise ConfigError(
                "expected positive `latent_dim` and `width` and `max_width` >= `width`, "
                f"got {latent_dim}, {width}, {max_width}"
            )
        for name, v in (("w_adv", w_adv), ("w_con", w_con), ("w_enc", w_enc)):
            if not float(v) >= 0:
                raise ConfigError(f"expected `{name}` to be >= 0, got {v}")
        kernel = int(map_kernel) if map_kernel else default_kernel(int(image_size))
        super().__init__(
            image_size,
            channels,
            latent_dim=int(latent_dim),
            width=int(width),
            max_width=int(max_width),
            w_adv=float(w_adv),
            w_con=float(w_con),
            w_enc=float(w_enc),
            map_kernel=map_kernel,
        )
        self.w_adv, self.w_con, self.w_enc = float(w_adv), float(w_con), float(w_enc)
        self.map_kernel = kernel
        s, c, w, mw, nz = self.image_size, self.channels, int(width), int(max_width), int(latent_dim)
        self.encoder1 = DCGANEncoder(c, s, w, nz, mw)
        self.decoder = DCGANDecoder(c, s, w, nz, mw)
        self.encoder2 = DCGANEncoder(c, s, w, nz, mw)
        self.discriminator = DCGANEncoder(c, s, w, 1, mw)
        self.apply(dcgan_init)
        self._fake: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(z, x̂, ẑ)`` for images in [0, 1]; x̂ is in [−1, 1]."""
        z = self.encoder1(to_signed(x))
        fake = self.decoder(z)
        return z, fake, self.encoder2(fake)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """The generator's reconstruction x̂ of images in [0, 1], in [0, 1]."""
        return to_unit(self(images)[1])

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        lr = lr or self.default_lr
        generator = [*self.encoder1.parameters(), *self.decoder.parameters(), *self.encoder2.parameters()]
        # Adam with β1 = 0.5 for both networks, as in the reference options.
        return [
            (torch.optim.Adam(generator, lr=lr, betas=(0.5, 0.999)), None),
            (torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999)), None),
        ]

    def training_step(
        self, batch: dict[str, torch.Tensor], optimizer_idx: int = 0
    ) -> dict[str, torch.Tensor] | None:
        x = batch["image"]
        if optimizer_idx == 0:
            z, fake, z_hat = self(x)
            real = to_signed(x)
            # Feature matching: the discriminator's last feature map of x and of x̂.
            adv = F.mse_loss(self.discriminator.features(fake), self.discriminator.features(real).detach())
            con = F.l1_loss(fake, real)
            enc = F.mse_loss(z_hat, z)
            self._fake = fake.detach()
            loss = self.w_adv * adv + self.w_con * con + self.w_enc * enc
            return {"loss": loss, "g_adv": adv, "g_con": con, "g_enc": enc}
        if optimizer_idx == 1:
            fake = self._fake if self._fake is not None else self(x)[1].detach()
            self._fake = None
            logit_real = self.discriminator(to_signed(x))
            logit_fake = self.discriminator(fake)
            loss = 0.5 * (
                F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
                + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake))
            )
            return {"loss": loss, "d_bce": loss.detach()}
        return None

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        z, fake, z_hat = self(images)
        score = (z.float() - z_hat.float()).pow(2).mean(dim=1)
        amap = residual_map(images, to_unit(fake), self.map_kernel)
        return Prediction(anomaly_map=amap, score=score)

"""GANomaly (Akcay, Atapour-Abarghouei, Breckon, ACCV 2018): an encoder-decoder-encoder generator and a
DCGAN discriminator.

The generator maps x to z = E1(x), reconstructs x̂ = Dec(z) and encodes the reconstruction again,
ẑ = E2(x̂). Trained on normal images only, it learns to keep z and ẑ close; an anomaly moves ẑ away from
z. The DCGAN building blocks here are shared with f-AnoGAN (:mod:`adsynth.zoo.fanogan`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model


def check_gan_size(image_size: int, minimum: int = 16) -> int:
    """Number of stride-2 stages from ``image_size`` down to 4; sizes must be powers of two ≥ 16."""
    n = math.log2(image_size / 4) if image_size > 0 else -1
    if image_size < minimum or n != int(n):
        raise ConfigError(f"expected `image_size` to be a power of two >= {minimum}, got {image_size}")
    return int(n)


def stage_widths(image_size: int, width: int, max_width: int) -> list[int]:
    """Channels after each stride-2 stage of a DCGAN encoder (S/2, S/4, ..., 4): doubling, capped."""
    return [min(width * 2**k, max_width) for k in range(check_gan_size(image_size))]


def dcgan_norm(kind: str, channels: int) -> nn.Module:
    """``batch`` (DCGAN), ``layer`` (a WGAN-GP critic: layer norm over C×H×W) or ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    return nn.Identity()


class DCGANEncoder(nn.Module):
    """Conv4×4/2 stages from C×S×S to a K×4×4 feature map, then a 4×4 valid conv to ``out_dim``×1×1.

    The first stage has no normalisation (DCGAN); LeakyReLU(0.2) throughout. ``features(x)`` is the
    last 4×4 map (GANomaly's feature-matching and f-AnoGAN's discriminator features).
    """

    def __init__(
        self, channels: int, image_size: int, width: int, out_dim: int, max_width: int, norm: str = "batch"
    ) -> None:
        super().__init__()
        widths = stage_widths(image_size, width, max_width)
        layers: list[nn.Module] = []
        cin = channels
        for i, cout in enumerate(widths):
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(dcgan_norm(norm, cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin = cout
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, out_dim, 4, 1, 0, bias=False)
        self.feature_dim = cin * 16

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten(1)


class DCGANDecoder(nn.Module):
    """From a ``latent_dim`` code to C×S×S in [−1, 1]: a 4×4 transposed conv, ConvT4×4/2 stages with
    BatchNorm and ReLU mirroring :class:`DCGANEncoder`'s widths, and a Tanh."""

    def __init__(self, channels: int, image_size: int, width: int, latent_dim: int, max_width: int) -> None:
        super().__init__()
        widths = stage_widths(image_size, width, max_width)[::-1]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        ]
        for cin, cout in zip(widths[:-1], widths[1:], strict=True):
            layers += [
                nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z.reshape(z.shape[0], -1, 1, 1))


def dcgan_init(m: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def to_signed(x: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] to the generators' [−1, 1]."""
    return x * 2.0 - 1.0


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Generator output in [−1, 1] back to [0, 1]."""
    return (x + 1.0) * 0.5


def residual_map(x: torch.Tensor, rec: torch.Tensor, kernel: int) -> torch.Tensor:
    """B×H×W mean absolute residual over channels (images in [0, 1]), mean-filtered when ``kernel`` > 1."""
    amap = (x.float() - rec.float()).abs().mean(dim=1)
    k = int(kernel)
    if k > 1:
        amap = F.avg_pool2d(amap[:, None], k, stride=1, padding=k // 2, count_include_pad=False)[:, 0]
    return amap


def check_channels(channels: int) -> None:
    if channels not in (1, 3):
        raise ConfigError(f"expected `channels` to be 1 or 3, got {channels}")


def check_positive(**values: float) -> None:
    for name, v in values.items():
        if not float(v) > 0:
            raise ConfigError(f"expected `{name}` to be positive, got {v}")


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
    needs_pretrained: ClassVar[bool] = False
    fit_mode: ClassVar[str] = "gradient"
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
        check_channels(channels)
        check_gan_size(int(image_size))
        if int(latent_dim) < 1 or int(width) < 1 or int(max_width) < int(width):
            raise ConfigError(
                "expected positive `latent_dim` and `width` and `max_width` >= `width`, "
                f"got {latent_dim}, {width}, {max_width}"
            )
        for name, v in (("w_adv", w_adv), ("w_con", w_con), ("w_enc", w_enc)):
            if not float(v) >= 0:
                raise ConfigError(f"expected `{name}` to be >= 0, got {v}")
        kernel = int(map_kernel) if map_kernel else max(3, (int(image_size) // 16) | 1)
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

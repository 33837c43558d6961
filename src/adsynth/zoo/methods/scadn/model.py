"""SCADN (Yan, Zhang, Xu, Hu, Heng, AAAI 2021): semantic context inpainting of multi-scale striped masks.

An encoder-decoder whose middle is a stack of dilated residual blocks inpaints half of the image hidden
by stripes (filled with white); a patch discriminator adds a small adversarial term. At test time every
image is inpainted under the whole stripe bank (3 widths × 2 directions × 2 phases); the squared error on
the hidden stripes, maximised over the masks of one width, is averaged over the widths.

Training masks come from the online synth recipe ``stripes`` (SCADN's uniform draw over its 12 masks):
the trainer provides ``aug_mask``; the model builds its own masked input from the clean image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from adsynth._validation import check_positive_int
from adsynth.errors import ConfigError
from adsynth.synth.masks import make_stripe_masks
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.batching import chunked
from adsynth.zoo.components.blur import gaussian_blur2d


class DilatedResBlock(nn.Module):
    """x + (reflect-pad, 3×3 conv dilated, IN, ReLU, reflect-pad, 3×3 conv, IN)."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(dilation),
            nn.Conv2d(width, width, 3, dilation=dilation),
            nn.InstanceNorm2d(width),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(width, width, 3),
            nn.InstanceNorm2d(width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class InpaintGenerator(nn.Module):
    """Encoder (7×7 conv, two 4×4/2 convs) → dilated residual blocks → decoder (two 4×4/2 transposed
    convs, 7×7 conv), instance norm; input = masked image + mask channel; output in [0, 1]."""

    def __init__(self, channels: int, width: int = 64, blocks: int = 8, dilation: int = 2) -> None:
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels + 1, w, 7),
            nn.InstanceNorm2d(w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1),
            nn.InstanceNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1),
            nn.InstanceNorm2d(4 * w),
            nn.ReLU(inplace=True),
        )
        self.middle = nn.Sequential(*(DilatedResBlock(4 * w, dilation) for _ in range(blocks)))
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1),
            nn.InstanceNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1),
            nn.InstanceNorm2d(w),
            nn.ReLU(inplace=True),
            nn.ReflectionPad2d(3),
            nn.Conv2d(w, channels, 7),
        )

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.decoder(self.middle(self.encoder(torch.cat([masked, mask], dim=1))))
        return (torch.tanh(x) + 1) / 2


class PatchDiscriminator(nn.Module):
    """PatchGAN: three 4×4/2 and two 4×4/1 convs with LeakyReLU(0.2); one logit per patch."""

    def __init__(self, channels: int, width: int = 64) -> None:
        super().__init__()
        w = width
        layers: list[nn.Module] = []
        cin = channels
        for cout, stride in ((w, 2), (2 * w, 2), (4 * w, 2), (8 * w, 1)):
            layers += [nn.Conv2d(cin, cout, 4, stride=stride, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def scadn_generator_loss(out: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, hidden_weight: float = 4.0):
    """SCADN's reconstruction term: ``(MSE(out·(1−m), x·(1−m)) + 4·MSE(out·m, x·m)) / mean(m)``.

    ``mean(m)`` is clamped at 0.05 so that a batch of unmasked items (a recipe with normal samples) does
    not blow the loss up; stripe masks always cover half the image.
    """
    out, x, m = out.float(), x.float(), mask.float()
    visible = F.mse_loss(out * (1 - m), x * (1 - m))
    hidden = F.mse_loss(out * m, x * m)
    return (visible + hidden_weight * hidden) / m.mean().clamp_min(0.05)


@register_model("scadn")
class Scadn(AnomalyModel):
    """SCADN.

    Args:
        image_size: side of the square input, a multiple of 4 and >= 32 (reference: 512).
        channels: 1 or 3.
        base_width: generator width (reference: 64; the middle runs at 4× this).
        blocks: dilated residual blocks in the middle (reference: 8).
        dilation: their dilation (reference: 2).
        disc_width: discriminator width (reference: 64).
        widths: stripe widths as fractions of the side (reference: 1/4, 1/8, 1/16).
        adv_weight: weight of the generator's adversarial term (reference: 0.001).
        disc_lr_ratio: discriminator learning rate / generator learning rate (reference: 0.1).
        smooth_sigma: σ of the Gaussian filter on the map (default 4 at 256 px, scaled with the size;
            0: none, as the reference).
        infer_batch: masked copies per forward pass at inference.

    Example:
        >>> import torch
        >>> m = Scadn(image_size=64, base_width=4, blocks=1, disc_width=4).eval()
        >>> m.predict(torch.rand(1, 3, 64, 64)).anomaly_map.shape
        torch.Size([1, 64, 64])
    """

    family: ClassVar[str] = "inpainting"
    paper: ClassVar[str] = "Yan, Zhang, Xu, Hu, Heng, AAAI 2021"
    uses_synthetic: ClassVar[bool] = True
    default_recipe: ClassVar[str | None] = "stripes"
    default_epochs: ClassVar[int] = 200
    default_batch_size: ClassVar[int] = 4
    default_lr: ClassVar[float] = 1e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        base_width: int = 64,
        blocks: int = 8,
        dilation: int = 2,
        disc_width: int = 64,
        widths: Sequence[float] = (0.25, 0.125, 0.0625),
        adv_weight: float = 0.001,
        disc_lr_ratio: float = 0.1,
        smooth_sigma: float | None = None,
        infer_batch: int = 24,
    ) -> None:
        if image_size < 32 or image_size % 4:
            raise ConfigError(f"expected `image_size` to be a multiple of 4 and >= 32, got {image_size}")
        for name, v in (("base_width", base_width), ("disc_width", disc_width), ("dilation", dilation)):
            check_positive_int(v, name)
        if int(blocks) < 0 or int(infer_batch) < 1:
            raise ConfigError(f"expected `blocks` >= 0 and `infer_batch` >= 1, got {blocks}, {infer_batch}")
        if (
            isinstance(widths, (int, float, str))
            or not len(widths)
            or any(not 0 < float(v) <= 1 for v in widths)
        ):
            raise ConfigError(
                f"expected `widths` to be a non-empty list of fractions in (0, 1], got {widths!r}"
            )
        if float(adv_weight) < 0 or float(disc_lr_ratio) < 0 or float(smooth_sigma or 0) < 0:
            raise ConfigError("expected `adv_weight`, `disc_lr_ratio` and `smooth_sigma` to be >= 0")
        super().__init__(
            image_size,
            channels,
            base_width=int(base_width),
            blocks=int(blocks),
            dilation=int(dilation),
            disc_width=int(disc_width),
            widths=[float(v) for v in widths],
            adv_weight=float(adv_weight),
            disc_lr_ratio=float(disc_lr_ratio),
            smooth_sigma=None if smooth_sigma is None else float(smooth_sigma),
            infer_batch=int(infer_batch),
        )
        self.widths = [float(v) for v in widths]
        self.adv_weight = float(adv_weight)
        self.disc_lr_ratio = float(disc_lr_ratio)
        self.smooth_sigma = self.image_size / 64 if smooth_sigma is None else float(smooth_sigma)
        self.infer_batch = int(infer_batch)
        self.generator = InpaintGenerator(self.channels, int(base_width), int(blocks), int(dilation))
        self.discriminator = PatchDiscriminator(self.channels, int(disc_width))

    def inpaint(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Inpaint ``images`` (B×C×H×W) with ``mask`` (B×1×H×W, 1 = hidden) filled with white."""
        mask = mask.to(images.dtype)
        return self.generator(images * (1 - mask) + mask, mask)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        # One optimizer with two parameter groups: the discriminator at a tenth of the generator's rate, as
        # the reference's two Adam optimizers (betas 0.0, 0.9).
        lr = lr or self.default_lr
        opt = torch.optim.Adam(
            [
                {"params": self.generator.parameters(), "lr": lr},
                {"params": self.discriminator.parameters(), "lr": lr * self.disc_lr_ratio},
            ],
            betas=(0.0, 0.9),
        )
        return opt, None

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, mask = batch["image"], batch["aug_mask"]
        out = self.inpaint(x, mask)
        rec = scadn_generator_loss(out, x, mask)
        # The generator's adversarial term runs the discriminator with detached parameters, so its
        # gradient reaches the generator only; the discriminator's own loss sees a detached output, so it
        # reaches the discriminator only. Both sum into one loss for the trainer's single optimizer.
        frozen = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        fake_for_g = functional_call(self.discriminator, frozen, (out,)).float()
        adv = F.binary_cross_entropy_with_logits(fake_for_g, torch.ones_like(fake_for_g))
        real = self.discriminator(x).float()
        fake = self.discriminator(out.detach()).float()
        d_loss = 0.5 * (
            F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        )
        g_loss = rec + self.adv_weight * adv
        return {"loss": g_loss + d_loss, "g_rec": rec, "g_adv": adv, "d": d_loss}

    def stripe_bank(self, h: int, w: int) -> torch.Tensor:
        """The S×4×H×W 0/1 masks of inference (S stripe widths × 2 directions × 2 phases)."""
        return torch.from_numpy(make_stripe_masks(h, w, self.widths))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        b, c, h, w = images.shape
        bank = self.stripe_bank(h, w).to(images.device, images.dtype)
        s = bank.shape[0]
        masks = bank.reshape(1, s * 4, 1, h, w).expand(b, s * 4, 1, h, w).reshape(b * s * 4, 1, h, w)
        x = images[:, None].expand(b, s * 4, c, h, w).reshape(b * s * 4, c, h, w)
        both = torch.cat([x, masks], dim=1)
        out = chunked(lambda t: self.inpaint(t[:, :c], t[:, c:]), both, self.infer_batch)
        err = (out.float() - x.float()).pow(2).mean(dim=1, keepdim=True) * masks
        # Each pixel is hidden in one phase of each direction: the max over a width's 4 masks is the larger
        # of its two inpainting errors; the widths are then averaged.
        amap = err.view(b, s, 4, h, w).amax(dim=2).mean(dim=1)
        smoothed = gaussian_blur2d(amap, self.smooth_sigma)
        return Prediction(anomaly_map=smoothed.float(), score=smoothed.flatten(1).amax(dim=1).float())

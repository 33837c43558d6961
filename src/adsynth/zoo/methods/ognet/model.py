"""OGNet, "Old is Gold" (Zaheer, Lee, Astrid, Lee, CVPR 2020): a reconstruction generator G and a
discriminator D trained adversarially, then D alone fine-tuned to tell good reconstructions from bad ones.

Phase one: G denoises normal images (input x + N(0, σ²)) under an MSE and an adversarial loss; D learns
real = 0, G's output = 1 ("bad" = 1, the paper's convention). After the first epoch(s) a frozen copy
G_old keeps the early, low-quality generator. Phase two trains D only: real images and G's
(high-quality) reconstructions are good (0); G_old's (low-quality) reconstructions and pseudo-anomalies
G((G_old(xᵢ) + G_old(xⱼ)) / 2), made from two different normal images, are bad (1). The image score is
D's probability that G(x) is bad.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.adversarial import split_epoch
from adsynth.zoo.components.dcgan import dcgan_init, to_signed, to_unit
from adsynth.zoo.components.maps import default_kernel, residual_map

SCORE_INPUTS = ("reconstruction", "image")


class Generator(nn.Module):
    """Four Conv5×5 (w, 2w, 4w, 8w) with BatchNorm and ReLU, four ConvTranspose5×5 back, Tanh.

    ``strided=False`` is the paper's network (stride 1, no padding: the map shrinks by 16 pixels and
    grows back); ``strided=True`` uses stride 2 so that large images stay affordable (size multiple of 16).
    """

    def __init__(self, channels: int, width: int, strided: bool) -> None:
        super().__init__()
        stride, pad, out_pad = (2, 2, 1) if strided else (1, 0, 0)
        widths = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = []
        cin = channels
        for cout in widths:
            layers += [nn.Conv2d(cin, cout, 5, stride, pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
            cin = cout
        for cout in [*widths[-2::-1], channels]:
            layers.append(nn.ConvTranspose2d(cin, cout, 5, stride, pad, output_padding=out_pad, bias=False))
            layers += [nn.BatchNorm2d(cout), nn.ReLU(True)] if cout != channels else [nn.Tanh()]
            cin = cout
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Discriminator(nn.Module):
    """Four Conv5×5/2 (w, 2w, 4w, 8w) with BatchNorm and ReLU, a linear layer to one logit ("bad")."""

    def __init__(self, channels: int, image_size: int, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, side = channels, image_size
        for cout in (width, 2 * width, 4 * width, 8 * width):
            layers += [nn.Conv2d(cin, cout, 5, 2, 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
            cin, side = cout, (side + 1) // 2
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(cin * side * side, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x).flatten(1))[:, 0]


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), target))


@register_model("ognet")
class OGNet(AnomalyModel):
    """OGNet.

    Args:
        image_size: side of the square input (paper: 45); a multiple of 16 when ``strided``.
        channels: 1 or 3 (paper: grayscale).
        width: channels of the first G and D layers, doubled three times (paper: 64).
        strided: stride-2 generator (default: for images larger than 64 px; the paper's stride-1
            generator costs O(S²·w²) and is impractical at 256 px).
        noise_std: std of the Gaussian noise added to G's input in phase one, on the [−1, 1] scale
            (paper: 0.81).
        adversarial_weight: weight of the adversarial term in G's loss; MSE gets ``1 −`` it (paper: 0.5).
        old_epochs: G_old is G after this many epochs (paper: 1, ``low_epoch = 0``).
        phase_two_start: fraction of the epochs after which phase two (D fine-tuning) starts.
        old_weight, pseudo_weight, good_rec_weight, real_weight: the phase-two loss weights on
            BCE(D(G_old(x)), 1), BCE(D(x_pseudo), 1), BCE(D(G(x)), 0), BCE(D(x), 0)
            (paper: 0.001, 0.999, 0.9, 0.1).
        d_lr_ratio, finetune_lr_ratio: D's learning rate in phase one and two as a fraction of G's
            (paper: 1e-4 and 5e-5 against 1e-3).
        score_input: ``reconstruction`` scores D(G(x)) (paper); ``image`` scores D(x).
        map_kernel: mean-filter size of the anomaly map |x − G(x)|; default about 1/16 of the side.

    Example:
        >>> import torch
        >>> m = OGNet(image_size=32, width=4).eval()
        >>> p = m.predict(torch.rand(2, 3, 32, 32))
        >>> p.anomaly_map.shape, bool(((p.score >= 0) & (p.score <= 1)).all())
        (torch.Size([2, 32, 32]), True)
    """

    family: ClassVar[str] = "gan"
    paper: ClassVar[str] = "Zaheer, Lee, Astrid, Lee, CVPR 2020 (Old is Gold)"
    default_epochs: ClassVar[int] = 25
    default_batch_size: ClassVar[int] = 64
    default_lr: ClassVar[float] = 1e-3

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        width: int = 64,
        strided: bool | None = None,
        noise_std: float = 0.81,
        adversarial_weight: float = 0.5,
        old_epochs: int = 1,
        phase_two_start: float = 0.8,
        old_weight: float = 0.001,
        pseudo_weight: float = 0.999,
        good_rec_weight: float = 0.9,
        real_weight: float = 0.1,
        d_lr_ratio: float = 0.1,
        finetune_lr_ratio: float = 0.05,
        score_input: str = "reconstruction",
        map_kernel: int | None = None,
    ) -> None:
        image_size = int(image_size)
        strided = image_size > 64 if strided is None else bool(strided)
        if image_size < 32 or (strided and image_size % 16):
            raise ConfigError(
                f"expected `image_size` >= 32 (a multiple of 16 when `strided`), got {image_size}"
            )
        if int(width) < 1 or int(old_epochs) < 1:
            raise ConfigError(f"expected positive `width` and `old_epochs`, got {width}, {old_epochs}")
        if not 0 < float(phase_two_start) < 1 or not 0 <= float(adversarial_weight) <= 1:
            raise ConfigError(
                "expected `phase_two_start` in (0, 1) and `adversarial_weight` in [0, 1], "
                f"got {phase_two_start}, {adversarial_weight}"
            )
        weights = (noise_std, old_weight, pseudo_weight, good_rec_weight, real_weight)
        if any(not float(v) >= 0 for v in weights) or not (
            float(d_lr_ratio) > 0 and float(finetune_lr_ratio) > 0
        ):
            raise ConfigError(
                "expected non-negative noise and loss weights and positive learning-rate ratios"
            )
        if score_input not in SCORE_INPUTS:
            raise ConfigError(
                f"expected `score_input` to be one of {', '.join(SCORE_INPUTS)}, got {score_input!r}"
            )
        super().__init__(
            image_size,
            channels,
            width=int(width),
            strided=strided,
            noise_std=float(noise_std),
            adversarial_weight=float(adversarial_weight),
            old_epochs=int(old_epochs),
            phase_two_start=float(phase_two_start),
            old_weight=float(old_weight),
            pseudo_weight=float(pseudo_weight),
            good_rec_weight=float(good_rec_weight),
            real_weight=float(real_weight),
            d_lr_ratio=float(d_lr_ratio),
            finetune_lr_ratio=float(finetune_lr_ratio),
            score_input=score_input,
            map_kernel=map_kernel,
        )
        self.h = dict(self._hparams)
        self.map_kernel = int(map_kernel) if map_kernel else default_kernel(image_size)
        self.generator = Generator(self.channels, int(width), strided)
        self.discriminator = Discriminator(self.channels, image_size, int(width))
        self.apply(dcgan_init)
        # G_old: a frozen copy of G taken after `old_epochs` epochs; saved in checkpoints with the rest.
        self.old_generator = Generator(self.channels, int(width), strided)
        self.old_generator.load_state_dict(self.generator.state_dict())
        self.old_generator.requires_grad_(False)
        self.register_buffer("old_ready", torch.zeros((), dtype=torch.bool))
        self.phase = 0
        self._rec: torch.Tensor | None = None

    # ------------------------------------------------------------------ phases
    def phase_epochs(self, epochs: int) -> tuple[int, int]:
        """``(epoch at which G_old is taken, first epoch of phase two)`` for a run of ``epochs``."""
        start = split_epoch(self.h["phase_two_start"], epochs)
        return min(self.h["old_epochs"], start), start

    def snapshot_old_generator(self) -> None:
        """G_old ← G (weights and batch-norm statistics), frozen."""
        self.old_generator.load_state_dict(self.generator.state_dict())
        self.old_ready.fill_(True)

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        old_at, start = self.phase_epochs(epochs)
        if epoch == old_at or (epoch >= start and not bool(self.old_ready)):
            self.snapshot_old_generator()
        self.phase = 1 if epoch >= start else 0

    def train(self, mode: bool = True) -> OGNet:
        super().train(mode)
        self.old_generator.eval()
        if self.phase == 1:
            self.generator.eval()  # phase two trains D only: G and G_old are fixed
        return self

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        lr = lr or self.default_lr
        d_params = list(self.discriminator.parameters())
        # Phase two starts D on a fresh Adam at a lower rate, as the reference's separate fine-tuning run.
        return [
            (torch.optim.Adam(self.generator.parameters(), lr=lr), None),
            (torch.optim.Adam(d_params, lr=lr * self.h["d_lr_ratio"]), None),
            (torch.optim.Adam(d_params, lr=lr * self.h["finetune_lr_ratio"]), None),
        ]

    def training_step(
        self, batch: dict[str, torch.Tensor], optimizer_idx: int = 0
    ) -> dict[str, torch.Tensor] | None:
        x = to_signed(batch["image"])
        h = self.h
        if self.phase == 0 and optimizer_idx == 0:
            noisy = x + torch.randn_like(x) * h["noise_std"]
            rec = self.generator(noisy)
            self._rec = rec.detach()
            mse = F.mse_loss(rec.float(), x.float())
            adv = _bce(self.discriminator(rec), 0.0)  # G wants its output judged good
            a = h["adversarial_weight"]
            return {"loss": (1 - a) * mse + a * adv, "g_mse": mse.detach(), "g_adv": adv.detach()}
        if self.phase == 0 and optimizer_idx == 1:
            rec = self._rec if self._rec is not None else self.generator(x).detach()
            self._rec = None
            loss = 0.5 * (_bce(self.discriminator(rec), 1.0) + _bce(self.discriminator(x), 0.0))
            return {"loss": loss, "d_bce": loss.detach()}
        if self.phase == 1 and optimizer_idx == 2:
            return self._finetune_loss(x)
        return None

    def _finetune_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.h
        with torch.no_grad():
            good = self.generator(x)
            old = self.old_generator(x)
        d = self.discriminator
        terms = {
            "ft_old": _bce(d(old), 1.0),
            "ft_good": _bce(d(good), 0.0),
            "ft_real": _bce(d(x), 0.0),
        }
        loss = h["old_weight"] * terms["ft_old"] + h["good_rec_weight"] * terms["ft_good"]
        loss = loss + h["real_weight"] * terms["ft_real"]
        if x.shape[0] > 1:
            # Pairs of different images of the batch: each with the next one.
            with torch.no_grad():
                pseudo = self.generator((old + old.roll(1, dims=0)) / 2)
            terms["ft_pseudo"] = _bce(d(pseudo), 1.0)
            loss = loss + h["pseudo_weight"] * terms["ft_pseudo"]
        return {"loss": loss, **{k: v.detach() for k, v in terms.items()}}

    # ------------------------------------------------------------------ inference
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """G(x) of images in [0, 1], in [0, 1]."""
        return to_unit(self.generator(to_signed(images)))

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        x = to_signed(images)
        rec = self.generator(x)
        judged = rec if self.h["score_input"] == "reconstruction" else x
        score = torch.sigmoid(self.discriminator(judged).float())
        amap = residual_map(images, to_unit(rec), self.map_kernel)
        return Prediction(anomaly_map=amap, score=score)

"""OE-SDN (Chung et al., IEEE Access 2020): an outlier-exposed style distillation network.

An autoencoder (the teacher, the Bergmann et al. network) learns to reconstruct normal images. Its
output differs from the input in two ways: mild distortions everywhere (blur, lost fine texture: the
*style* translation) and, on a defect, the defect removed (the *content* translation). A student
image-to-image network (a U-Net, whose skips keep content) learns to map the input to the teacher's
output on normal images: pixel loss plus the Gram-matrix style loss of neural style transfer on
intermediate features. Outlier exposure: on a synthetic defect (any synth recipe) the student's target
is the input itself inside the defect mask (keep the content the teacher removes) and the teacher's
output outside it. At test time the map is the per-pixel squared difference between the student's and
the teacher's outputs: the style part cancels, the content part (defects) remains.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_choice, check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.bergmann import bergmann_decoder, bergmann_encoder, check_bergmann_size
from adsynth.zoo.components.losses import RECONSTRUCTION_LOSSES, reconstruction_loss
from adsynth.zoo.components.maps import SCORES, default_kernel, max_of_smoothed, smoothed_map
from adsynth.zoo.components.modes import eval_mode
from adsynth.zoo.components.unet import UNet, check_unet_size
from adsynth.zoo.methods.oe_sdn.loss import masked_mse, style_loss


@register_model("oe-sdn")
class OESDN(AnomalyModel):
    """Outlier-exposed style distillation network.

    Args:
        image_size: square side, a power of two >= 32 (the teacher's size rule).
        channels: 1 or 3.
        latent_dim: the teacher autoencoder's bottleneck (Bergmann et al.: 100).
        ae_loss: the teacher's loss, ``"l2"``, ``"ssim"`` or ``"l2+ssim"``.
        student_width / student_depth: the student U-Net's first width and number of pooling stages.
        style_layers: how many of the teacher encoder's first activations give the style features.
        style_weight: weight of the style (Gram) loss.
        oe_weight: weight of the outlier-exposure loss on the synthetic images.
        map_sigma: σ in pixels of the Gaussian on the difference map (None: ``image_size / 64``).
        teacher_steps: 0 trains teacher and student together (the student imitates the current
            teacher); N > 0 trains the teacher alone for the first N optimiser steps, then the student
            alone against the now fixed teacher (two phases in one run; the step count is saved).
        score: image score, ``"max"`` of the mean-filtered map or ``"mean"`` of the map.

    Example:
        >>> m = OESDN(image_size=32, latent_dim=8, student_width=4, student_depth=2).eval()
        >>> m.predict(torch.rand(2, 3, 32, 32)).anomaly_map.shape
        torch.Size([2, 32, 32])
    """

    family = "distillation"
    paper = "Chung et al., Unsupervised Anomaly Detection Using Style Distillation, IEEE Access 2020"
    uses_synthetic = True
    default_recipe = "draem"
    default_epochs = 100
    default_batch_size = 16
    default_lr = 2e-4

    def __init__(
        self,
        image_size: int = 128,
        channels: int = 3,
        latent_dim: int = 100,
        ae_loss: str = "l2",
        student_width: int = 16,
        student_depth: int = 3,
        style_layers: int = 3,
        style_weight: float = 1.0,
        oe_weight: float = 1.0,
        map_sigma: float | None = None,
        teacher_steps: int = 0,
        score: str = "max",
    ) -> None:
        image_size = check_positive_int(image_size, "image_size")
        check_bergmann_size(image_size)
        student_depth = check_positive_int(student_depth, "student_depth")
        check_unet_size(image_size, student_depth)
        if map_sigma is not None:
            map_sigma = check_range(map_sigma, 0.0, 1e3, "map_sigma")
        super().__init__(
            image_size,
            channels,
            latent_dim=check_positive_int(latent_dim, "latent_dim"),
            ae_loss=check_choice(ae_loss, RECONSTRUCTION_LOSSES, "ae_loss"),
            student_width=check_positive_int(student_width, "student_width"),
            student_depth=student_depth,
            style_layers=check_positive_int(style_layers, "style_layers"),
            style_weight=check_range(style_weight, 0.0, 1e6, "style_weight"),
            oe_weight=check_range(oe_weight, 0.0, 1e6, "oe_weight"),
            map_sigma=map_sigma,
            teacher_steps=0 if teacher_steps == 0 else check_positive_int(teacher_steps, "teacher_steps"),
            score=check_choice(score, SCORES, "score"),
        )
        self.encoder = bergmann_encoder(self.channels, image_size, int(latent_dim))
        self.decoder = bergmann_decoder(self.channels, image_size, int(latent_dim))
        acts = [i for i, m in enumerate(self.encoder) if isinstance(m, nn.LeakyReLU)]
        if style_layers > len(acts):
            raise ConfigError(
                f"expected `style_layers` to be at most {len(acts)} at {image_size} px, got {style_layers}"
            )
        self.student = UNet(self.channels, self.channels, width=int(student_width), depth=student_depth)
        self.style_ends = acts[: int(style_layers)]
        self.sigma = image_size / 64 if map_sigma is None else float(map_sigma)
        self.kernel = default_kernel(image_size)
        # Optimiser steps taken so far (for the two-phase schedule); a buffer, so it is checkpointed.
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints written before the two-phase schedule have no step count: they trained jointly.
        state_dict.setdefault(prefix + "steps", torch.zeros((), dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def teacher(self, x: torch.Tensor) -> torch.Tensor:
        """The autoencoder's reconstruction."""
        return self.decoder(self.encoder(x))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(student output, teacher output)."""
        return self.student(x), self.teacher(x)

    def style_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations of the teacher encoder's first ``style_layers`` stages, with its weights held
        fixed (the loss network of style transfer; gradients reach ``x`` only)."""
        feats, h = [], x
        for i, layer in enumerate(self.encoder[: self.style_ends[-1] + 1]):
            if isinstance(layer, nn.Conv2d):
                w, b = layer.weight.detach(), layer.bias.detach()
                h = F.conv2d(h, w, b, layer.stride, layer.padding)
            else:
                h = layer(h)
            if i in self.style_ends:
                feats.append(h)
        return feats

    @property
    def single_process_reason(self) -> str | None:
        # Each phase leaves half of the parameters without a gradient, which DDP refuses.
        if self._hparams["teacher_steps"]:
            return "`teacher_steps` needs a single process (leave it 0 under torchrun)"
        return None

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, aug = batch["image"], batch["aug_image"]
        self.check_images(x, self.channels)
        mask = batch["aug_mask"].float().view(x.shape[0], 1, *x.shape[-2:])
        hp = self._hparams
        phase = "joint"
        if hp["teacher_steps"]:
            phase = "teacher" if int(self.steps) < hp["teacher_steps"] else "student"
        if self.training:
            self.steps += 1
        if phase == "teacher":
            ae = sum(reconstruction_loss(x, self.teacher(x), hp["ae_loss"]).values())
            zero = ae.detach() * 0
            return {"loss": ae, "ae": ae.detach(), "pixel": zero, "style": zero, "oe": zero}
        if phase == "student":
            with torch.no_grad():
                rec = self.teacher(x)
            ae = rec.new_zeros(())
        else:
            rec = self.teacher(x)
            ae = sum(reconstruction_loss(x, rec, hp["ae_loss"]).values())
        target = rec.detach()
        s = self.student(x)
        pixel = F.mse_loss(s.float(), target.float())
        style = style_loss(self.style_features(s), self.style_features(target))
        with torch.no_grad():
            aug_target = self.teacher(aug)
        s_aug = self.student(aug)
        # Inside the defect: keep the input (what the teacher removes); outside: imitate the teacher.
        oe = masked_mse(s_aug, aug, mask) + masked_mse(s_aug, aug_target, 1.0 - mask)
        loss = ae + pixel + hp["style_weight"] * style + hp["oe_weight"] * oe
        return {
            "loss": loss,
            "ae": ae.detach(),
            "pixel": pixel.detach(),
            "style": style.detach(),
            "oe": oe.detach(),
        }

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        with eval_mode(self):
            s, t = self(images)
        diff = (s.float() - t.float()).pow(2).mean(dim=1)
        amap = smoothed_map(diff, self.sigma)
        score = (
            max_of_smoothed(amap, self.kernel) if self._hparams["score"] == "max" else amap.flatten(1).mean(1)
        )
        return Prediction(anomaly_map=amap, score=score.float())

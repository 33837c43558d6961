"""DifferNet (Rudolph, Wandt, Rosenhahn, WACV 2021): same same but DifferNet.

The frozen pretrained backbone's deepest feature map of the image at three scales (full, ½, ¼) is
average-pooled and concatenated into one vector per image; a normalising flow of fully connected FrEIA
couplings maps it to a standard normal. Training: the negative log-likelihood of the normal images, each
rotated by a random multiple of 90° (the paper's rotation transforms). Test: the image score is the mean
over ``test_transforms`` rotations of ½‖z‖² / D; the anomaly map is the gradient of that score with
respect to the input pixels (|∂s/∂x|, mean over channels, Gaussian-blurred), the paper's localisation.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.distillation import FrozenBackboneModel
from adsynth.zoo.components.flows import build_flow, fc_subnet, run_flow

SCALES = (1.0, 0.5, 0.25)


@register_model("differnet")
class DifferNet(FrozenBackboneModel):
    """DifferNet: likelihood of multi-scale pooled backbone features under an image-level flow.

    Args:
        image_size, channels: resolution and 1 or 3 channels.
        backbone, layers, pretrained, weights, backbone_from: the frozen extractor (default bundled
            ImageNet EfficientNet-Lite0, level 4 = its last stage; the paper used AlexNet's last
            convolutional features).
        coupling_blocks: couplings of the flow (8).
        hidden: hidden units of each coupling's subnet (the paper's ``fc_internal`` 2048).
        clamp: soft clamping of the log-scales (3).
        test_transforms: rotations by multiples of 90° averaged at test time (1-4; the paper averages
            64 random transforms).
        sigma: Gaussian blur of the gradient map, in pixels.
        seed: seed of the permutations and of the training rotations.
    """

    family = "flow"
    paper = "Rudolph, Wandt, Rosenhahn, Same Same But DifferNet, WACV 2021"
    default_epochs = 192
    default_batch_size = 24
    default_lr = 2e-4
    default_layers = (4,)

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        coupling_blocks: int = 8,
        hidden: int = 2048,
        clamp: float = 3.0,
        test_transforms: int = 4,
        sigma: float = 4.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        test_transforms = check_positive_int(test_transforms, "test_transforms")
        if test_transforms > 4:
            raise ConfigError(f"expected `test_transforms` in 1..4 (90° rotations), got {test_transforms}")
        super().__init__(
            image_size,
            channels,
            coupling_blocks=check_positive_int(coupling_blocks, "coupling_blocks"),
            hidden=check_positive_int(hidden, "hidden"),
            clamp=check_range(clamp, 1e-3, 100.0, "clamp"),
            test_transforms=test_transforms,
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        self.dim = len(SCALES) * sum(self.feature_channels)
        self.flow = build_flow((self.dim,), coupling_blocks, fc_subnet(hidden=hidden), clamp, seed=int(seed))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        # The reference code's Adam: betas (0.8, 0.8), eps 1e-4, weight decay 1e-5.
        params = list(self.flow.parameters())
        params = [p for p in params if p.requires_grad]
        opt = torch.optim.Adam(
            params, lr=lr or self.default_lr, betas=(0.8, 0.8), eps=1e-4, weight_decay=1e-5
        )
        return opt, None

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×D multi-scale pooled features (differentiable w.r.t. ``images``; backbone frozen)."""
        self.check_images(images, self.channels)
        self.backbone.eval()
        size = images.shape[-1]
        out = []
        for s in SCALES:
            x = (
                images
                if s == 1.0
                else F.interpolate(images, size=int(size * s), mode="bilinear", align_corners=False)
            )
            out += [f.float().mean((2, 3)) for f in self.backbone(x)]
        return torch.cat(out, dim=1)

    def _nll(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-image ½‖z‖² / D, per-image log|det J| / D)."""
        z, log_det = run_flow(self.flow, self.embed(images))
        return 0.5 * z.pow(2).sum(1) / self.dim, log_det / self.dim

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = batch["image"]
        gen = torch.Generator().manual_seed(int(self._hparams["seed"]) * 1_000_003 + int(self.step))
        ks = torch.randint(0, 4, (len(images),), generator=gen).tolist()
        rotated = torch.stack([torch.rot90(im, k, dims=(1, 2)) for im, k in zip(images, ks, strict=True)])
        with torch.no_grad():
            feats = self.embed(rotated)
        z, log_det = run_flow(self.flow, feats)
        sq = 0.5 * z.pow(2).sum(1) / self.dim
        self.step += 1
        return {"loss": (sq - log_det / self.dim).mean(), "nll_z": sq.mean().detach()}

    def predict(self, images: torch.Tensor) -> Prediction:
        with torch.inference_mode(False), torch.enable_grad():
            x = images.clone().requires_grad_(True)
            score = torch.zeros(len(images), device=images.device)
            grad = torch.zeros(len(images), *images.shape[-2:], device=images.device)
            for k in range(self._hparams["test_transforms"]):
                sq, _ = self._nll(torch.rot90(x, k, dims=(2, 3)))
                (g,) = torch.autograd.grad(sq.sum(), x)
                score += sq.detach()
                grad += g.abs().mean(1)
            n = self._hparams["test_transforms"]
            score, amap = (score / n).detach(), (grad / n).detach()
        amap = gaussian_blur2d(amap, self._hparams["sigma"])
        return Prediction(anomaly_map=amap.float(), score=score.float())

"""Deep SVDD (Ruff et al., ICML 2018): map normal data into a small hypersphere around a fixed centre.

The encoder is the paper's LeNet-type CNN without bias terms (5×5 convolutions, BatchNorm without affine
parameters, LeakyReLU 0.1, 2×2 max-pooling), made fully convolutional: its last layer is a bias-free
1×1 convolution, so each position of its output is the embedding of one receptive-field patch (≈ 40 px).
The centre ``c`` is the mean embedding of the first training batch (the paper: an initial forward pass
over the training data), with coordinates near 0 moved to ±ε; the loss is the one-class objective
``mean ||φ(x) − c||²`` (weight decay 1e-6 in the optimizer). Predict: ``anomaly_map = "patch"`` gives the
per-patch distance upsampled to the input and blurred; ``anomaly_map = "gradient"`` the magnitude of the
gradient of the image score with respect to the input pixels (blurred). Image score = max (or mean)
of the per-patch distances.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.modes import eval_mode
from adsynth.zoo.components.oneclass import svdd_center

MAPS = ("patch", "gradient")
SCORES = ("max", "mean")


def bias_free_encoder(channels: int, widths: tuple[int, ...], rep_dim: int) -> nn.Sequential:
    """LeNet-type encoder without any bias: (conv 5×5 → BN(affine=False) → LeakyReLU → max-pool 2) per
    width, then a 1×1 convolution to ``rep_dim``. Output stride ``2**len(widths)``."""
    layers: list[nn.Module] = []
    cin = channels
    for w in widths:
        layers += [
            nn.Conv2d(cin, w, 5, padding=2, bias=False),
            nn.BatchNorm2d(w, eps=1e-4, affine=False),
            nn.LeakyReLU(0.1),
            nn.MaxPool2d(2),
        ]
        cin = w
    layers.append(nn.Conv2d(cin, rep_dim, 1, bias=False))
    return nn.Sequential(*layers)


@register_model("deep-svdd")
class DeepSVDD(AnomalyModel):
    """One-class Deep SVDD on the patches of a fully convolutional bias-free encoder.

    Args:
        image_size: side of the square input (a multiple of ``2**len(widths)``).
        channels: 1 or 3.
        widths: channels of the conv stages (the paper's CIFAR-10 net: 32, 64, 128).
        rep_dim: embedding size (the paper: 128).
        eps: the centre's ε (0.1).
        anomaly_map: ``"patch"`` (per-patch distances) or ``"gradient"`` (input gradient of the score).
        score: ``"max"`` or ``"mean"`` of the per-patch distances.
        sigma: Gaussian blur of the map in pixels (None: 4 px at 256 px, scaled with the side).

    Example:
        >>> m = DeepSVDD(image_size=32, widths=(4, 8), rep_dim=8).eval()
        >>> m.predict(torch.rand(2, 3, 32, 32)).anomaly_map.shape
        torch.Size([2, 32, 32])
    """

    family = "one-class"
    paper = "Ruff et al., Deep One-Class Classification, ICML 2018"
    default_epochs = 150
    default_batch_size = 200
    default_lr = 1e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        widths: tuple[int, ...] = (32, 64, 128),
        rep_dim: int = 128,
        eps: float = 0.1,
        anomaly_map: str = "patch",
        score: str = "max",
        sigma: float | None = None,
    ) -> None:
        widths = tuple(check_positive_int(w, "widths[]") for w in widths)
        if not widths:
            raise ConfigError("expected `widths` to hold at least one stage")
        image_size = check_positive_int(image_size, "image_size")
        if image_size % 2 ** len(widths):
            raise ConfigError(
                f"expected `image_size` to be a multiple of {2 ** len(widths)}, got {image_size}"
            )
        if anomaly_map not in MAPS:
            raise ConfigError(f"expected `anomaly_map` to be one of {', '.join(MAPS)}, got {anomaly_map!r}")
        if score not in SCORES:
            raise ConfigError(f"expected `score` to be one of {', '.join(SCORES)}, got {score!r}")
        if sigma is not None:
            sigma = check_range(sigma, 0.0, 1e3, "sigma")
        super().__init__(
            image_size,
            channels,
            widths=list(widths),
            rep_dim=check_positive_int(rep_dim, "rep_dim"),
            eps=check_range(eps, 0.0, 1e3, "eps"),
            anomaly_map=anomaly_map,
            score=score,
            sigma=sigma,
        )
        self.encoder = bias_free_encoder(self.channels, widths, int(rep_dim))
        self.register_buffer("center", torch.zeros(int(rep_dim)))
        self.register_buffer("center_set", torch.zeros((), dtype=torch.bool))
        self.sigma = 4.0 * image_size / 256 if sigma is None else float(sigma)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w squared distances of the patch embeddings to the centre."""
        z = self.encoder(images.float() * 2 - 1)
        return (z - self.center.view(1, -1, 1, 1)).square().sum(1)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        """Adam with weight decay 1e-6 (the paper's), ×0.1 at a third of the epochs (its milestone 50/150)."""
        opt = torch.optim.Adam(self.parameters(), lr=lr or self.default_lr, weight_decay=1e-6)
        milestone = max(1, int(epochs or self.default_epochs) // 3)
        return opt, torch.optim.lr_scheduler.MultiStepLR(opt, [milestone], gamma=0.1)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images = batch["image"]
        self.check_images(images, self.channels)
        if not bool(self.center_set):
            with torch.no_grad():
                z = self.encoder(images.float() * 2 - 1)
                emb = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
                self.center.copy_(svdd_center(emb, self._hparams["eps"]))
                self.center_set.fill_(True)
        dist = self(images)
        return {"loss": dist.mean()}

    def _scores(self, dist: torch.Tensor) -> torch.Tensor:
        flat = dist.flatten(1)
        return flat.amax(1) if self._hparams["score"] == "max" else flat.mean(1)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        with eval_mode(self):
            size = tuple(images.shape[-2:])
            if self._hparams["anomaly_map"] == "gradient":
                # predict_dataset runs under inference_mode: leave it to differentiate w.r.t. the input.
                with torch.inference_mode(False), torch.enable_grad():
                    x = images.clone().requires_grad_(True)
                    dist = self(x)
                    score = self._scores(dist)
                    (grad,) = torch.autograd.grad(score.sum(), x)
                amap = grad.abs().mean(1)
                score, dist = score.detach(), None
            else:
                dist = self(images)
                score = self._scores(dist)
                amap = F.interpolate(dist[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
        amap = gaussian_blur2d(amap.float(), self.sigma)
        return Prediction(anomaly_map=amap, score=score.float())

"""CutPaste (Li et al., CVPR 2021): self-supervised classification of cut-and-pasted patches + a Gaussian.

Training: a ResNet-18 (from scratch by default) with an MLP projection head classifies clean images
(class 0) against CutPaste (1) and CutPaste-Scar (2) augmentations made online by the ``cutpaste-3way``
recipe. The same network is trained at the same time on patches (``patch_size``): clean crops against
crops centred on the border of the pasted region, which is what the patch-level localisation model of
the paper learns. Fitting: Gaussian density estimates (GDE: mean + Ledoit-Wolf covariance) of the
L2-normalised 512-d embeddings of normal images and of their dense patches. Predict: score = Mahalanobis
distance of the image embedding; map = Mahalanobis distances of dense patches (stride ``patch_stride``),
averaged over the pixels each patch covers, then Gaussian-smoothed (σ = 4).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.backbone_model import BackboneModel
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.modes import eval_mode
from adsynth.zoo.components.oneclass import distribute_scores, extract_patches, patch_starts

#: Patches embedded per forward pass at inference (bounds memory; 256 patches of 64 px ≈ 1 image of 1024 px).
_PATCH_CHUNK = 256


def ledoit_wolf(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and Ledoit-Wolf shrunk covariance of the rows of ``x`` (N×D), in float64.

    Same estimator as ``sklearn.covariance.LedoitWolf`` (shrinkage towards μ·I with μ = trace(S)/D).

    Example:
        >>> mean, cov = ledoit_wolf(torch.randn(50, 4))
        >>> cov.shape
        torch.Size([4, 4])
    """
    x = x.double()
    n, d = x.shape
    mean = x.mean(0)
    xc = x - mean
    s = xc.T @ xc / n
    mu = torch.trace(s) / d
    s_sq = (s * s).sum()
    # β: the variance of the sample covariance's entries, (1/n²) Σ_k ‖x_k x_kᵀ − S‖² / d.
    beta = ((xc * xc).sum(1).square().sum() / n - s_sq) / (d * n)
    delta = (s_sq - 2 * mu * torch.trace(s) + d * mu * mu) / d
    beta = torch.minimum(beta, delta)
    shrinkage = torch.where(delta > 0, beta / delta.clamp_min(1e-300), torch.zeros_like(delta))
    cov = (1 - shrinkage) * s + shrinkage * mu * torch.eye(d, dtype=x.dtype, device=x.device)
    return mean, cov


def gde_fit(embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian density estimate: (mean, precision) of N×D embeddings with Ledoit-Wolf shrinkage."""
    mean, cov = ledoit_wolf(embeddings)
    return mean, torch.linalg.pinv(cov, hermitian=True)


def gde_score(embeddings: torch.Tensor, mean: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    """Mahalanobis distances ``sqrt((x−μ)ᵀ P (x−μ))`` of N×D embeddings."""
    delta = embeddings.to(mean.dtype) - mean
    return ((delta @ precision) * delta).sum(1).clamp_min(0).sqrt()


@register_model("cutpaste")
class CutPaste(BackboneModel):
    """CutPaste 3-way classifier + Gaussian density estimation, with patch-level localisation.

    Args:
        image_size: training/inference resolution (any size ≥ 32 works; the paper uses 256).
        channels: 1 or 3 (grayscale is replicated to RGB).
        backbone: timm model name (ResNet-18 as in the paper).
        pretrained / weights / backbone_from: optional initial weights (the paper's main setting trains
            from scratch; pretrained is its transfer-learning variant).
        head_layers: hidden Linear-BN-ReLU layers of width 512 before the 128-d projection (1).
        num_classes: 3 for the 3-way task (0 normal, 1 cutpaste, 2 scar), 2 for binary.
        patch_size: side of the localisation patches (None: 64 from 256 px up, else image_size // 2).
        patch_stride: stride of the dense patches at fit/predict time (None: patch_size // 4).
        patch_loss_weight: weight of the patch classification loss (0 = no patch training).
        freeze_steps: steps during which loaded backbone weights stay frozen (20, as the reference code).
        sigma: Gaussian smoothing of the map, in pixels (4).
        seed: seed of the training patch positions (drawn per step from ``(seed, step)``; the step
            counter is a buffer, so a resumed run draws what an uninterrupted one draws).
    """

    family = "self-supervised"
    paper = "Li et al., CutPaste: Self-Supervised Learning for Anomaly Detection and Localization, CVPR 2021"
    fit_mode = "both"
    uses_synthetic = True
    default_recipe = "cutpaste-3way"
    default_epochs = 256
    default_batch_size = 32
    default_lr = 0.03
    # The transfer variant starts from the bundled ImageNet backbone; from scratch, the paper's ResNet-18.
    default_pretrained = False
    scratch_backbone = "resnet18"
    default_layers = (4,)
    layers_option = False

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        head_layers: int = 1,
        num_classes: int = 3,
        patch_size: int | None = None,
        patch_stride: int | None = None,
        patch_loss_weight: float = 1.0,
        freeze_steps: int = 20,
        sigma: float = 4.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        image_size = check_positive_int(image_size, "image_size")
        if image_size < 32:
            raise ConfigError(f"expected `image_size` >= 32 for cutpaste, got {image_size}")
        if patch_size is None:
            patch_size = 64 if image_size >= 256 else image_size // 2
        patch_size = check_positive_int(patch_size, "patch_size")
        if not 16 <= patch_size <= image_size:
            raise ConfigError(f"expected `patch_size` in [16, image_size={image_size}], got {patch_size}")
        patch_stride = check_positive_int(patch_stride or max(1, patch_size // 4), "patch_stride")
        if num_classes not in (2, 3):
            raise ConfigError(f"expected `num_classes` to be 2 or 3, got {num_classes!r}")
        super().__init__(
            image_size,
            channels,
            head_layers=int(head_layers),
            num_classes=int(num_classes),
            patch_size=patch_size,
            patch_stride=patch_stride,
            patch_loss_weight=check_range(patch_loss_weight, 0.0, 1e3, "patch_loss_weight"),
            freeze_steps=int(freeze_steps),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        dim = self.backbone.feature_info.channels()[-1]
        layers: list[nn.Module] = []
        width = dim
        for out in [512] * int(head_layers) + [128]:
            layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU(inplace=True)]
            width = out
        self.head = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, int(num_classes))
        for prefix in ("image", "patch"):
            self.register_buffer(f"{prefix}_mean", torch.zeros(dim, dtype=torch.float64))
            self.register_buffer(f"{prefix}_precision", torch.zeros(dim, dim, dtype=torch.float64))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        # Training steps so far: decides the backbone freeze and seeds the patch positions of each step.
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self._fit_image: list[torch.Tensor] = []
        self._fit_patch: list[torch.Tensor] = []

    # ------------------------------------------------------------------ network
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×512 embeddings (global average of the last ResNet stage), before the head."""
        return F.adaptive_avg_pool2d(self.backbone(images)[-1], 1).flatten(1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits B×num_classes, embeddings B×512)."""
        emb = self.embed(images)
        return self.classifier(self.head(emb)), emb

    # ------------------------------------------------------------------ training
    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        """SGD (momentum 0.9, weight decay 3e-5) with cosine annealing over ``epochs`` scheduler steps."""
        opt = torch.optim.SGD(self.parameters(), lr=lr or self.default_lr, momentum=0.9, weight_decay=3e-5)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(1, int(epochs or self.default_epochs))
        )
        return opt, sched

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images, aug = batch["image"], batch["aug_image"]
        self.check_images(images, self.channels)
        labels = batch["aug_label"].long().view(-1).clamp_max(self._hparams["num_classes"] - 1)
        target = torch.cat([torch.zeros_like(labels), labels])
        step = int(self.steps)
        frozen = self.weights_source != "random-init" and step < self._hparams["freeze_steps"]
        self.steps += 1
        logits = self._classify(torch.cat([images, aug]), frozen)
        loss_image = F.cross_entropy(logits, target)
        logs = {
            "loss_image": loss_image.detach(),
            "accuracy": (logits.argmax(1) == target).float().mean().detach(),
        }
        loss = loss_image
        w = self._hparams["patch_loss_weight"]
        if w > 0 and self._hparams["patch_size"] < images.shape[-1]:
            mask = batch.get("aug_mask")
            gen = torch.Generator().manual_seed(
                int(np.random.default_rng([self._hparams["seed"], step]).integers(2**63))
            )
            clean, defect, patch_labels = self._training_patches(images, aug, mask, labels, gen)
            loss_patch = F.cross_entropy(
                self._classify(torch.cat([clean, defect]), frozen),
                torch.cat([torch.zeros_like(patch_labels), patch_labels]),
            )
            logs["loss_patch"] = loss_patch.detach()
            loss = loss + w * loss_patch
        return {"loss": loss, **logs}

    def _classify(self, images: torch.Tensor, frozen: bool) -> torch.Tensor:
        if frozen:
            with torch.no_grad():
                emb = self.embed(images)
        else:
            emb = self.embed(images)
        return self.classifier(self.head(emb))

    def _training_patches(
        self,
        images: torch.Tensor,
        aug: torch.Tensor,
        mask: torch.Tensor | None,
        labels: torch.Tensor,
        gen: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random clean crops, and crops of the augmented images centred on a random pixel of the border of
        the pasted region (so that the discontinuity the classifier must see is inside the patch)."""
        p = self._hparams["patch_size"]
        b, _, h, w = images.shape
        ys = torch.randint(0, h - p + 1, (b,), generator=gen)
        xs = torch.randint(0, w - p + 1, (b,), generator=gen)
        clean = torch.stack([images[i, :, ys[i] : ys[i] + p, xs[i] : xs[i] + p] for i in range(b)])
        patch_labels = labels.clone()
        centres = torch.stack(
            [torch.randint(0, h, (b,), generator=gen), torch.randint(0, w, (b,), generator=gen)], 1
        )
        if mask is not None:
            m = (mask.reshape(b, -1, h, w)[:, :1] > 0.5).float()
            border = (m - (-F.max_pool2d(-m, 3, stride=1, padding=1))).view(b, -1).cpu()
            for i in range(b):
                if border[i].any():
                    k = int(torch.multinomial(border[i], 1, generator=gen))
                    centres[i] = torch.tensor([k // w, k % w])
                else:
                    # No changed pixel to aim at: the crop shows a normal surface.
                    patch_labels[i] = 0
        else:
            patch_labels.zero_()
        y0 = (centres[:, 0] - p // 2).clamp(0, h - p)
        x0 = (centres[:, 1] - p // 2).clamp(0, w - p)
        defect = torch.stack([aug[i, :, y0[i] : y0[i] + p, x0[i] : x0[i] + p] for i in range(b)])
        return clean, defect, patch_labels

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # Checkpoints written before the step counter became a buffer have none: they start at 0.
        state_dict.setdefault(prefix + "steps", torch.zeros((), dtype=torch.int64))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ fit (GDE)
    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        images = batch["image"]
        self.check_images(images, self.channels)
        with eval_mode(self):
            image_emb, patch_emb, _ = self._embeddings(images)
        self._fit_image.append(image_emb)
        self._fit_patch.append(patch_emb.reshape(-1, patch_emb.shape[-1]))

    @torch.no_grad()
    def fit_end(self) -> None:
        if not self._fit_image:
            raise RuntimeError("cutpaste: fit_end() called before any fit_batch()")
        for prefix, embs in (("image", self._fit_image), ("patch", self._fit_patch)):
            mean, precision = gde_fit(torch.cat(embs))
            getattr(self, f"{prefix}_mean").copy_(mean)
            getattr(self, f"{prefix}_precision").copy_(precision)
        self.fitted.fill_(True)
        self._fit_image, self._fit_patch = [], []

    def _embeddings(
        self, images: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[list[int], list[int]]]:
        """L2-normalised image embeddings (B×D), dense patch embeddings (B×gh×gw×D) and the patch offsets."""
        p, s = self._hparams["patch_size"], self._hparams["patch_stride"]
        b, _, h, w = images.shape
        image_emb = F.normalize(self.embed(images), dim=1)
        rows, cols = patch_starts(h, p, s), patch_starts(w, p, s)
        patches = extract_patches(images, p, rows, cols)
        patch_emb = torch.cat(
            [F.normalize(self.embed(chunk), dim=1) for chunk in patches.split(_PATCH_CHUNK)]
        )
        return image_emb, patch_emb.view(b, len(rows), len(cols), -1), (rows, cols)

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        if not bool(self.fitted):
            raise RuntimeError(
                "cutpaste is not fitted: run the fitting pass (fit_batch/fit_end) or load a checkpoint"
            )
        self.check_images(images, self.channels)
        with eval_mode(self):
            image_emb, patch_emb, (rows, cols) = self._embeddings(images)
        b, gh, gw, d = patch_emb.shape
        score = gde_score(image_emb, self.image_mean, self.image_precision)
        patch_scores = gde_score(patch_emb.reshape(-1, d), self.patch_mean, self.patch_precision).view(
            b, gh, gw
        )
        # Receptive-field upsampling: each pixel gets the mean score of the patches that contain it.
        p = self._hparams["patch_size"]
        amap = distribute_scores(patch_scores, rows, cols, p, tuple(images.shape[-2:]))
        amap = gaussian_blur2d(amap, self._hparams["sigma"])
        return Prediction(anomaly_map=amap.float(), score=score.float())


@register_model("cutpaste-imagenet")
class CutPasteImageNet(CutPaste):
    """CutPaste's transfer-learning variant (96.6 image AUROC on MVTec AD in the paper): the same 3-way
    training and Gaussian fit, starting from the bundled ImageNet backbone (``tf_efficientnet_lite0``; any
    timm backbone with ``backbone``/``weights``), frozen for the first ``freeze_steps`` steps."""

    paper = CutPaste.paper + " (transfer-learning variant)"
    needs_pretrained = True
    default_pretrained = True

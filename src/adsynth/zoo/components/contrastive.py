"""Local self-supervised feature learners (SimSiam, SimCLR) trained on normal images and synthetic defects.

:class:`LocalSSLModel` holds a timm backbone (``backbone``: the attribute that ``--backbone-from`` reads,
so PaDiM and PatchCore can use the learnt trunk), a 1×1-convolution projection head over its stride-8
features (levels 2 and 3, the latter upsampled), and a nearest-neighbour map of its own for ``predict``.
Each step sees two views of each training image, both with the same random flips (so grid cells
correspond) and independent brightness/contrast jitter: view A is the normal image, view B the synth
recipe's output. Cells that the synthetic defect covers in B have no positive; the subclasses' losses
(:func:`simsiam_loss`, :func:`info_nce`) use them as described there.

Example:
    >>> import torch
    >>> a = torch.nn.functional.normalize(torch.randn(6, 8), dim=1)
    >>> float(info_nce(a, a, torch.ones(6, dtype=torch.bool), 0.1)) < 0.1
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction
from adsynth.zoo.components.backbone_model import BackboneModel
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.modes import eval_mode
from adsynth.zoo.components.oneclass import BankSample, knn_distance

__all__ = ["LocalSSLModel", "info_nce", "simsiam_loss"]


def _mlp(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, hidden, 1, bias=False),
        nn.BatchNorm2d(hidden),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, cout, 1),
    )


def info_nce(
    anchors: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor, temperature: float
) -> torch.Tensor:
    """InfoNCE of L2-normalised N×D ``anchors`` against N×D ``keys``: row i's positive is key i, every other
    key a negative; rows with ``valid`` False (no positive: a defect cell) only serve as negatives."""
    logits = anchors @ keys.T / temperature
    target = torch.arange(len(anchors), device=anchors.device)
    loss = F.cross_entropy(logits, target, reduction="none")
    return (loss * valid).sum() / valid.sum().clamp_min(1)


def simsiam_loss(p: torch.Tensor, z: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """SimSiam's negative cosine ``−cos(p, stopgrad(z))`` averaged over the ``valid`` rows."""
    cos = F.cosine_similarity(p, z.detach(), dim=1)
    return -(cos * valid).sum() / valid.sum().clamp_min(1)


class LocalSSLModel(BackboneModel):
    """Shared builder of the local SSL feature learners; subclasses define :meth:`ssl_loss`.

    Args:
        image_size: training/inference resolution (a multiple of 16).
        channels: 1 or 3.
        backbone: timm model name (default the bundled ``tf_efficientnet_lite0`` architecture, so the
            learnt trunk replaces its ImageNet weights one for one).
        pretrained / weights / backbone_from: initial trunk weights (default: random init, learn from the
            user's images only; ``pretrained=True`` starts from ImageNet and adapts).
        proj_dim: projection size.
        cells_per_image: grid cells per image used in the loss (half of them on the defect when there is one).
        jitter: maximal brightness and contrast change of each view (fraction).
        bank_size: memory cells kept for the model's own nearest-neighbour map.
        sigma: Gaussian blur of the map in pixels (4).
        seed: seed of the views' flips and jitter, the cells and the memory sample.
    """

    family = "self-supervised"
    needs_pretrained = False
    fit_mode = "both"
    uses_synthetic = True
    default_recipe = "mixed"
    default_epochs = 100
    default_batch_size = 32
    default_lr = 0.05
    default_pretrained = False
    layers_option = False  # levels 2 and 3 are the cell features
    lazy_buffers = ("bank",)

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        proj_dim: int = 128,
        cells_per_image: int = 32,
        jitter: float = 0.2,
        bank_size: int = 65536,
        sigma: float = 4.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        image_size = check_positive_int(image_size, "image_size")
        if image_size % 16:
            raise ConfigError(
                f"expected `image_size` to be a multiple of 16 for {self.name}, got {image_size}"
            )
        super().__init__(
            image_size,
            channels,
            proj_dim=check_positive_int(proj_dim, "proj_dim"),
            cells_per_image=check_positive_int(cells_per_image, "cells_per_image"),
            jitter=check_range(jitter, 0.0, 1.0, "jitter"),
            bank_size=check_positive_int(bank_size, "bank_size"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        c2, c3 = self.backbone.feature_info.channels()[1:]
        self.projector = _mlp(c2 + c3, 256, int(proj_dim))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("bank", torch.empty(0, c2 + c3))
        self._bank = BankSample(self._hparams["seed"], self._hparams["bank_size"])

    # ------------------------------------------------------------------ network
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """B×(c2+c3)×h×w trunk features at stride 8 (level 3 upsampled bilinearly)."""
        _, f2, f3 = self.backbone(images)
        f3 = F.interpolate(f3, size=f2.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([f2, f3], 1)

    def ssl_loss(
        self, feats_a: torch.Tensor, feats_b: torch.Tensor, valid: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The SSL loss of matched N×C cell features of the two views (``valid``: B's cell is clean)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training
    def _views(self, images: torch.Tensor, aug: torch.Tensor, gen: torch.Generator):
        b = images.shape[0]
        flip_h = torch.rand(b, generator=gen) < 0.5
        flip_v = torch.rand(b, generator=gen) < 0.5
        out = []
        for x in (images, aug):
            x = torch.where(flip_h.view(-1, 1, 1, 1).to(x.device), x.flip(-1), x)
            x = torch.where(flip_v.view(-1, 1, 1, 1).to(x.device), x.flip(-2), x)
            j = self._hparams["jitter"]
            bright = (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * j
            contrast = 1 + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * j
            mean = x.mean((1, 2, 3), keepdim=True)
            out.append(((x - mean) * contrast.to(x.device) + mean + bright.to(x.device)).clamp(0, 1))
        return out[0], out[1], flip_h, flip_v

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        images, aug = batch["image"], batch["aug_image"]
        self.check_images(images, self.channels)
        b = images.shape[0]
        seed = int(np.random.default_rng([self._hparams["seed"], int(self.steps)]).integers(2**62))
        gen = torch.Generator().manual_seed(seed)
        self.steps += 1
        mask = batch["aug_mask"].float().view(b, 1, *images.shape[-2:])
        view_a, view_b, fh, fv = self._views(images, aug, gen)
        mask = torch.where(fh.view(-1, 1, 1, 1).to(mask.device), mask.flip(-1), mask)
        mask = torch.where(fv.view(-1, 1, 1, 1).to(mask.device), mask.flip(-2), mask)
        feats = self.features(torch.cat([view_a, view_b]))
        h, w = feats.shape[-2:]
        defect = F.adaptive_max_pool2d(mask, (h, w)).view(b, -1) > 0.5
        # Cells: half where B has a defect (when it has one), the rest uniform.
        n = min(self._hparams["cells_per_image"], h * w)
        prio = torch.rand(b, h * w, generator=gen).to(defect.device) + defect.float() * (
            torch.rand(b, h * w, generator=gen).to(defect.device) < 0.5
        )
        cells = prio.topk(n, dim=1).indices
        flat = feats.flatten(2)  # 2B×C×hw
        pick = cells.unsqueeze(1).expand(-1, flat.shape[1], -1)
        fa = flat[:b].gather(2, pick).permute(0, 2, 1).reshape(b * n, -1)
        fb = flat[b:].gather(2, pick).permute(0, 2, 1).reshape(b * n, -1)
        valid = ~defect.gather(1, cells).reshape(-1)
        out = self.ssl_loss(fa, fb, valid.float())
        out["defect_cells"] = (~valid).float().mean().detach()
        return out

    def _project(self, cells: torch.Tensor) -> torch.Tensor:
        """Projection of N×C cell features (the 1×1 MLP applied to them as 1×1 maps)."""
        return self.projector(cells[:, :, None, None]).flatten(1)

    # ------------------------------------------------------------------ fit (own nearest-neighbour map)
    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        images = batch["image"]
        self.check_images(images, self.channels)
        with eval_mode(self):
            f = self.features(images)
        self._bank.add(f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]).cpu())

    @torch.no_grad()
    def fit_end(self) -> None:
        self.bank = self._bank.take(self.name).to(self.bank.device)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        if self.bank.numel() == 0:
            raise RuntimeError(f"{self.name} is not fitted: run fit_batch()/fit_end() (or load a checkpoint)")
        self.check_images(images, self.channels)
        with eval_mode(self):
            f = self.features(images)
        b, c, h, w = f.shape
        dist = knn_distance(f.permute(0, 2, 3, 1).reshape(-1, c), self.bank.to(f.device)).view(b, 1, h, w)
        amap = F.interpolate(dist, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        amap = gaussian_blur2d(amap, self._hparams["sigma"])
        return Prediction(anomaly_map=amap.float(), score=amap.flatten(1).amax(1).float())

"""GLASS, global and local anomaly synthesis (Chen, Luo, Lv, Zhang, ECCV 2024).

A frozen ImageNet backbone (levels 2 + 3, SimpleNet's 3×3 local aggregation, standardised per channel:
:mod:`adsynth.zoo.components.synthetic_features`), a one-layer linear feature adaptor and an MLP
discriminator (per position, a logit of "anomalous") trained on three kinds of features at once:

* **normal**: the adapted features of the normal training images (target 0);
* **GAS**, global anomaly synthesis: the normal features plus Gaussian noise, then ``ascent_steps`` steps
  of gradient *ascent* on the discriminator's loss of these features (each step of fixed length along
  the gradient normalised per position: the synthetic features are pushed towards what the
  discriminator takes for normal), every ``project_every`` steps projected back into a ring around the
  normal feature (``distribution = "manifold"``) or around the normal centre (``"hypersphere"``);
  target 1, binary cross-entropy with the normal term;
* **LAS**, local anomaly synthesis in image space: the trainer's recipe (``--recipe``, default
  ``draem``) makes ``aug_image`` / ``aug_mask``; the adapted features of the synthetic-defect images are
  labelled by the mask max-pooled to the feature grid (any defect pixel in a cell); in the hypersphere
  mode the defect positions are first projected into the ring ``[2 r, 4 r]`` around the centre; focal
  loss (γ = 2) on the hardest ``hard_fraction`` of the positions.

Real defects (``--real-defects all``): the real defective photos join the LAS term with their real masks
(never projected into the ring) and are left out of the normal and GAS terms; with ``--no-synthetic``
(the real-only baseline) the GAS term and the recipe are off.

Map: the sigmoid of the discriminator per position, upsampled bilinearly and blurred; image score: the
maximum of the per-position logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

from adsynth._validation import check_choice, check_interval, check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.synthetic_features import (
    Discriminator,
    SyntheticFeatureModel,
    feature_noise,
    linear_adaptor,
)
from adsynth.zoo.methods.glass.loss import ascent_step, bce_pair, hard_focal_loss, ring_projection

#: the paper's rings in the hypersphere mode, in multiples of ``r`` (the normal points' distance quantile)
GAS_SPHERE_RING = (1.0, 2.0)
LAS_SPHERE_RING = (2.0, 4.0)


@register_model("glass")
class GLASS(SyntheticFeatureModel):
    """GLASS on the bundled ImageNet EfficientNet-Lite0 (levels 2 + 3); LAS from any adsynth recipe.

    Lengths in feature space are in units of the standardised features: ``noise_std`` per channel, and
    the manifold ring and the ascent step in multiples of the noise's expected length ``noise_std·√D``
    (the paper's absolute σ = 0.015, step 0.001 and ring [0.5, 1] on its 1536-channel WRN-50 embedding are
    σ, 0.0017 and [0.85, 1.7] in these units).

    Args:
        image_size, channels: as every model (grayscale is replicated for the ImageNet backbone).
        noise_std: σ of GAS's Gaussian noise, in standardised units.
        distribution: ``"manifold"`` (GAS projected around each normal feature, LAS unprojected) or
            ``"hypersphere"`` (both projected around the normal centre, the per-position mean of the
            adapted normal features, recomputed at every epoch's start).
        ascent_steps: GAS's gradient-ascent steps (paper: 20); 0: Gaussian noise only, no projection.
        ascent_step: length of one ascent step, in multiples of ``noise_std·√D``.
        project_every: project after every this many ascent steps (paper: 5).
        ring: ``(lo, hi)``: the manifold mode's ring, in multiples of ``noise_std·√D``.
        radius_quantile: the hypersphere's ``r``: this quantile of the normal points' distances to the
            centre (paper: 0.75).
        hard_fraction: LAS's focal loss is taken over this fraction of the positions, the hardest ones
            (paper: p = 0.5); 1: all.
        focal_gamma: the focal loss's γ (2).
        las_weight: weight of the LAS term (1: the paper's sum).
        hidden, disc_layers: the discriminator's width and depth (paper: 1024, 2).
        adaptor_lr_ratio: the adaptor's learning rate as a fraction of the discriminator's (paper: 1e-4
            against 2e-4).
        weight_decay, disc_weight_decay: AdamW's weight decay of the adaptor (paper: 1e-5) and of the
            discriminator (paper: AdamW's default 0.01).
        **options: ``patch``, ``upscale``, ``cache_mb``, ``sigma``, ``seed`` and the backbone options of
            :class:`~adsynth.zoo.components.synthetic_features.SyntheticFeatureModel`.

    Example:
        >>> import torch
        >>> m = GLASS(image_size=32, pretrained=False, hidden=8).eval()
        >>> m.predict(torch.rand(1, 3, 32, 32)).anomaly_map.shape
        torch.Size([1, 32, 32])
    """

    paper = (
        "Chen, Luo, Lv, Zhang, A Unified Anomaly Synthesis Strategy with Gradient Ascent for "
        "Industrial Anomaly Detection and Localization (GLASS), ECCV 2024"
    )
    uses_synthetic = True
    default_recipe = "draem"
    supervision = ("unsupervised", "full")
    default_epochs = 16
    default_batch_size = 8
    default_lr = 2e-4

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        noise_std: float = 0.5,
        distribution: str = "hypersphere",
        ascent_steps: int = 5,
        ascent_step: float = 0.02,
        project_every: int = 5,
        ring: Sequence[float] = (0.85, 1.7),
        radius_quantile: float = 0.75,
        hard_fraction: float = 0.5,
        focal_gamma: float = 2.0,
        las_weight: float = 1.0,
        hidden: int = 256,
        disc_layers: int = 2,
        adaptor_lr_ratio: float = 0.5,
        weight_decay: float = 1e-5,
        disc_weight_decay: float = 1e-2,
        **options: Any,
    ) -> None:
        if isinstance(ascent_steps, bool) or not isinstance(ascent_steps, int) or ascent_steps < 0:
            raise ConfigError(f"expected `ascent_steps` to be an int >= 0, got {ascent_steps!r}")
        super().__init__(
            image_size,
            channels,
            noise_std=check_range(noise_std, 1e-6, 1e3, "noise_std"),
            distribution=check_choice(distribution, ("manifold", "hypersphere"), "distribution"),
            ascent_steps=ascent_steps,
            ascent_step=check_range(ascent_step, 0.0, 1e3, "ascent_step"),
            project_every=check_positive_int(project_every, "project_every"),
            ring=list(check_interval(ring, 0.0, 1e3, "ring")),
            radius_quantile=check_range(radius_quantile, 0.0, 1.0, "radius_quantile"),
            hard_fraction=check_range(hard_fraction, 1e-3, 1.0, "hard_fraction"),
            focal_gamma=check_range(focal_gamma, 0.0, 10.0, "focal_gamma"),
            las_weight=check_range(las_weight, 0.0, 1e3, "las_weight"),
            hidden=check_positive_int(hidden, "hidden"),
            disc_layers=check_positive_int(disc_layers, "disc_layers"),
            adaptor_lr_ratio=check_range(adaptor_lr_ratio, 0.0, 1e3, "adaptor_lr_ratio"),
            weight_decay=check_range(weight_decay, 0.0, 1.0, "weight_decay"),
            disc_weight_decay=check_range(disc_weight_decay, 0.0, 1.0, "disc_weight_decay"),
            **options,
        )
        d = self.embed_dim
        self.adaptor = linear_adaptor(d)
        self.discriminator = Discriminator(d, hidden, disc_layers)
        # The hypersphere's centre: a pure function of the adaptor and the normal images at an epoch's
        # start (recomputed there, also on resume), so it is not saved.
        self._center: torch.Tensor | None = None
        self._dataset: Any = None

    # ------------------------------------------------------------------ training
    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        hp = self._hparams
        lr = lr or self.default_lr
        opt = torch.optim.AdamW(
            [
                {
                    "params": self.adaptor.parameters(),
                    "lr": lr * hp["adaptor_lr_ratio"],
                    "weight_decay": hp["weight_decay"],
                },
                {
                    "params": self.discriminator.parameters(),
                    "lr": lr,
                    "weight_decay": hp["disc_weight_decay"],
                },
            ]
        )
        return opt, None

    def on_train_start(self, dataset: Any) -> None:
        super().on_train_start(dataset)
        self._dataset = dataset

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self._center = None
        if self._hparams["distribution"] == "hypersphere":
            self._center = self._normal_center()

    @torch.no_grad()
    def _normal_center(self) -> torch.Tensor | None:
        """The per-position mean (D×h×w) of the adapted normal training features, from the bank of
        :meth:`on_train_start` (or the training images when there is none)."""
        bank = getattr(self, "_bank", {})
        device = self.feat_mean.device
        if bank:
            raws = [bank[k] for k in sorted(bank)]
        elif self._dataset is not None and len(self._dataset):
            raws = [r for _, raw in self.normal_embeddings(self._dataset) for r in raw]
        else:
            return None
        total = None
        for start in range(0, len(raws), 64):
            chunk = torch.stack(raws[start : start + 64]).to(device)
            s = self.adaptor(self.standardise(chunk)).sum(0)
            total = s if total is None else total + s
        return total / len(raws)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hp = self._hparams
        feats = self.adaptor(self.train_embed(batch))
        gen = self.step_generator()
        self.step += 1
        real_row = batch.get("real_label")
        real_row = real_row > 0 if real_row is not None and bool((real_row > 0).any()) else None
        if real_row is not None:  # real defective photos are positives of the LAS term only
            feats = feats[~real_row]
        sphere = hp["distribution"] == "hypersphere"
        center = None
        if sphere:
            center = self._center if self._center is not None else feats.detach().mean(0)
            center = center.to(feats.device).unsqueeze(0)

        # LAS: the recipe's synthetic-defect images that hold a defect (the others equal normal images),
        # and the real defective photos with their masks.
        aug_mask = batch["aug_mask"]
        has = aug_mask.flatten(1).amax(1) > 0
        fake = mask = None
        if bool(has.any()):
            fake = self.adaptor(self.embed(batch["aug_image"][has]))
            mask = F.adaptive_max_pool2d(aug_mask[has].float(), fake.shape[-2:])[:, 0]
        synthetic_mask = mask
        if mask is not None and real_row is not None:
            synthetic_mask = mask * (~real_row[has]).to(mask)[:, None, None]

        radius = None
        if sphere:
            normal_pts = [(feats.detach() - center).norm(dim=1).flatten()]
            if fake is not None:
                dist = (fake.detach() - center).norm(dim=1)
                normal_pts.append(dist[mask == 0])
            radius = torch.quantile(torch.cat(normal_pts), hp["radius_quantile"])

        if self.synthetic_anomalies:
            gaus = self._global_anomalies(feats, gen, center, radius)
            scores = self.discriminator(torch.cat([feats, gaus]))
            normal, synthetic = scores.chunk(2)
            loss = bce_pair(normal, synthetic)
            p_fake = (synthetic.detach() >= 0).float().mean()
        else:  # the real-only baseline: normal features and the real defects' LAS term
            normal = self.discriminator(feats)
            loss = F.binary_cross_entropy_with_logits(normal, torch.zeros_like(normal))
            p_fake = torch.zeros(())
        out = {"p_true": (normal.detach() < 0).float().mean(), "p_fake": p_fake}
        if fake is not None:
            if sphere:
                lo, hi = (f * radius for f in LAS_SPHERE_RING)
                ring = center + ring_projection(fake - center, lo, hi)
                fake = torch.where(synthetic_mask.unsqueeze(1) > 0, ring, fake)
            logits = self.discriminator(fake)
            las = hard_focal_loss(logits, mask, hp["hard_fraction"], hp["focal_gamma"])
            loss = loss + hp["las_weight"] * las
            out["las"] = las.detach()
            out["p_las"] = ((logits.detach() >= 0).float() == mask).float().mean()
        out["loss"] = loss
        return out

    def _global_anomalies(
        self,
        feats: torch.Tensor,
        gen: torch.Generator,
        center: torch.Tensor | None,
        radius: torch.Tensor | None,
    ) -> torch.Tensor:
        """GAS: ``feats`` + noise, moved by gradient ascent on the discriminator's loss and projected into
        the ring; the result keeps ``feats``' graph (the offset is a constant)."""
        hp = self._hparams
        unit = hp["noise_std"] * self.embed_dim**0.5
        delta = feature_noise(feats.shape, hp["noise_std"], gen, feats.device)
        steps = hp["ascent_steps"]
        if steps == 0:
            return feats + delta
        base = feats.detach()
        for k in range(steps):
            delta.requires_grad_(True)
            scores = self.discriminator(torch.cat([base, base + delta]))
            synthetic = scores[base.shape[0] :]
            gas_loss = F.binary_cross_entropy_with_logits(synthetic, torch.ones_like(synthetic))
            delta = ascent_step(gas_loss, delta, hp["ascent_step"] * unit)
            if (k + 1) % hp["project_every"] == 0:
                delta = self._project(base, delta, center, radius, unit)
        return feats + delta

    def _project(self, base, delta, center, radius, unit: float) -> torch.Tensor:
        """The offset ``delta`` of ``base`` projected into GAS's ring: around ``base`` (manifold), or
        around ``center`` at [r, 2r] (hypersphere)."""
        if center is None:
            lo, hi = self._hparams["ring"]
            return ring_projection(delta, lo * unit, hi * unit)
        lo, hi = (f * radius for f in GAS_SPHERE_RING)
        return center + ring_projection(base + delta - center, lo, hi) - base

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        logits = self.discriminator(self.adaptor(self.embed(images))).float()
        amap = self.finish(torch.sigmoid(logits), images.shape[-2:])
        # The paper's max of the sigmoid scores, taken on the logits: the same order without the ties
        # of saturated probabilities.
        return Prediction(anomaly_map=amap, score=logits.flatten(1).amax(1))

"""A contrario detection on deep features (Tailanian, Musé, Pardo 2021): number-of-false-alarms maps.

Fit: for each level of a frozen backbone, the per-position means and the covariance (shared by all
positions) of the normal training features give a whitening z = Λ^(−1/2) Uᵀ (x − μ_p); on a random
sample of normal positions the tail probability p_τ = P(|z_c| > τ) of each threshold τ is measured
(the background model, calibrated on normal data rather than assumed Gaussian). Predict: at every
position and for every square window of ``scales`` cells, the number k of (cell, component) pairs with
|z| > τ among the n in the window is a Binomial(n, p_τ) count under the background model; its number
of false alarms is NFA = N_tests · P(Bin(n, p_τ) ≥ k), N_tests = positions × scales × thresholds (all
levels). The map is −log10 NFA (maximised over scales and thresholds, upsampled bilinearly, maximised
over levels): values above 0 are detections at an expected ≤ 1 false alarm per image, the a contrario
calibration; the image score is the map's max (−log10 of the smallest NFA). With ``dispersion`` the
binomial is corrected for the correlation of neighbouring cells (a design effect measured on normal images).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.special import betainc
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.blur import gaussian_blur2d
from adsynth.zoo.components.features import FeatureModel


def log10_binomial_tail(k: torch.Tensor, n: torch.Tensor, p: float) -> torch.Tensor:
    """log10 P(Bin(n, p) ≥ k), elementwise; real ``k`` and ``n`` allowed (float64, on the CPU).

    P(Bin(n, p) ≥ k) = I_p(k, n − k + 1), the regularised incomplete beta function, which extends the
    binomial tail to the non-integer counts of the dispersion correction. Where it underflows (below
    ~1e-308) the Chernoff bound −n·KL(k/n ‖ p) / ln 10 takes over, so that stronger evidence still ranks
    higher instead of every such cell tying at the floor.
    """
    kk = k.detach().cpu().double().numpy()
    nn_ = n.detach().cpu().double().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = betainc(np.clip(kk, 1e-12, None), np.clip(nn_ - kk + 1, 1e-12, None), p)
        out = np.log10(tail)
        q = np.clip(kk / np.maximum(nn_, 1e-12), 1e-300, 1.0)
        kl = q * np.log(q / p) + np.where(
            q < 1, (1 - q) * np.log(np.clip(1 - q, 1e-300, None) / (1 - p)), 0.0
        )
        out = np.where(tail > 0, out, -nn_ * kl / math.log(10))
    out = np.where(kk <= 0, 0.0, np.where(kk > nn_, -1e6, out))
    out = np.nan_to_num(out, nan=0.0, neginf=-1e6).clip(-1e6, 0.0)
    return torch.from_numpy(out.astype(np.float32)).to(k.device)


@register_model("a-contrario")
class AContrario(FeatureModel):
    """A contrario NFA maps of whitened CNN features.

    Args:
        image_size: training/inference resolution.
        channels: 1 or 3.
        backbone: timm model name (default ``tf_efficientnet_lite0``, bundled ImageNet weights).
        layers: levels tested (1, 2, 3).
        pretrained / weights / backbone_from: where the backbone weights come from.
        scales: window sides in feature cells (1, 3, 5).
        thresholds: |z| thresholds τ in whitened units (2, 3).
        eps: added to the covariances' eigenvalues, relative to their mean (0.01).
        samples_per_image: positions per level and image kept to measure p_τ (64).
        sigma: Gaussian blur of the upsampled map, in pixels (0: the calibrated −log10 NFA as is).
        per_position: centre the features with a mean per position (True) rather than one mean per
            level (the background model of an aligned part varies over the image); the whitening is shared.
        dispersion: correct the binomial for correlated cells: the window counts k and sizes n are divided
            by a design effect d ≥ 1 per (level, threshold, scale), the variance of the counts on
            ``calibration_images`` whole normal training images over the binomial variance n·p·(1 − p).
        calibration_images: normal training images kept whole to measure the design effects (16).
        seed: seed of the sampled positions.
    """

    paper = "Tailanian, Musé, Pardo, A Multi-Scale A Contrario method for Unsupervised Image AD, ICMLA 2021"

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        scales: Sequence[int] = (1, 3, 5),
        thresholds: Sequence[float] = (2.0, 3.0),
        eps: float = 0.01,
        samples_per_image: int = 64,
        sigma: float = 0.0,
        per_position: bool = True,
        dispersion: bool = True,
        calibration_images: int = 16,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        scales = [check_positive_int(s, "scales[]") for s in scales]
        if any(s % 2 == 0 for s in scales):
            raise ConfigError(f"expected odd `scales` (centred windows), got {scales}")
        thresholds = [float(check_range(t, 0.0, 1e3, "thresholds[]")) for t in thresholds]
        if not scales or not thresholds:
            raise ConfigError("`scales` and `thresholds` must not be empty")
        super().__init__(
            image_size,
            channels,
            scales=scales,
            thresholds=thresholds,
            eps=check_range(eps, 0.0, 1.0, "eps"),
            samples_per_image=check_positive_int(samples_per_image, "samples_per_image"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            per_position=bool(per_position),
            dispersion=bool(dispersion),
            calibration_images=check_positive_int(calibration_images, "calibration_images"),
            seed=int(seed),
            **backbone_options,
        )
        chans = self.level_channels
        self.lazy_buffers = ("p_tail", *(f"mean{i}" for i in range(len(chans))))
        for i, c in enumerate(chans):
            self.register_buffer(f"mean{i}", torch.empty(c, 0, 0))  # C×h×w, sized by fit_end
            self.register_buffer(f"whiten{i}", torch.zeros(c, c))
        self.register_buffer("p_tail", torch.empty(0, len(thresholds)))
        self.register_buffer("design", torch.ones(len(chans), len(thresholds), len(scales)))
        self._reset()

    def _reset(self) -> None:
        self._n = 0
        self._sums: list[torch.Tensor] = []
        self._outer: list[torch.Tensor] = []
        self._counts: list[int] = []
        self._samples: list[list[torch.Tensor]] = []
        self._calib: list[list[torch.Tensor]] = []

    # ------------------------------------------------------------------ fit
    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        feats = self.levels(batch["image"])
        gen = torch.Generator().manual_seed(self._hparams["seed"] * 1_000_003 + self._n)
        k = self._hparams["samples_per_image"]
        kept = []
        for i, f in enumerate(feats):
            b, c, h, w = f.shape
            v = f.permute(0, 2, 3, 1).reshape(-1, c).double()
            if len(self._sums) <= i:
                self._sums.append(torch.zeros(c, h, w, dtype=torch.float64, device=v.device))
                self._outer.append(torch.zeros(c, c, dtype=torch.float64, device=v.device))
                self._counts.append(0)
            self._counts[i] += v.shape[0]
            self._sums[i] += f.double().sum(0)
            self._outer[i] += v.T @ v
            idx = torch.randint(0, h * w, (b, min(k, h * w)), generator=gen)
            rows = (idx + torch.arange(b).unsqueeze(1) * (h * w)).flatten().to(v.device)
            kept.append((v[rows].float(), idx.flatten()))
        self._samples.append(kept)
        room = self._hparams["calibration_images"] - sum(c[0].shape[0] for c in self._calib)
        if self._hparams["dispersion"] and room > 0:
            self._calib.append([f[:room].float().clone() for f in feats])
        self._n += batch["image"].shape[0]

    @torch.no_grad()
    def fit_end(self) -> None:
        if self._n == 0:
            raise RuntimeError("a-contrario: fit_end() called before any fit_batch()")
        taus = torch.tensor(self._hparams["thresholds"])
        p_tail = []
        for i, (s, o) in enumerate(zip(self._sums, self._outer, strict=True)):
            samples = torch.cat([kept[i][0] for kept in self._samples])
            where = torch.cat([kept[i][1] for kept in self._samples]).to(samples.device)
            n, (c, h, w) = self._counts[i], s.shape
            flat = s.view(c, h * w)
            if self._hparams["per_position"]:
                means = flat / self._n  # C×P per-position means; covariance around them
                cov = (o - self._n * means @ means.T) / n
            else:
                means = (flat.sum(1, keepdim=True) / n).expand(c, h * w)
                cov = o / n - means[:, :1] @ means[:, :1].T
            mean = means.reshape(c, h, w)
            evals, evecs = torch.linalg.eigh(cov)
            # PaDiM-like regulariser: eps × the mean variance added to every eigenvalue.
            evals = evals.clamp_min(0) + self._hparams["eps"] * float(
                evals.clamp_min(0).mean().clamp_min(1e-30)
            )
            whiten = (evecs / evals.sqrt()).float()
            setattr(self, f"mean{i}", mean.float().contiguous().to(self.p_tail.device))
            getattr(self, f"whiten{i}").copy_(whiten)
            z = ((samples - means.T[where].float()) @ whiten).abs()
            # Tail probability of one component, pooled over components; at least one exceedance in the
            # sample plus one (a Laplace-style floor: p_τ is never 0).
            p_tail.append(
                torch.stack([((z > t).sum() + 1).double() / (z.numel() + 2) for t in taus.tolist()]).float()
            )
        self.p_tail = torch.stack(p_tail).to(self.whiten0.device)
        if self._hparams["dispersion"]:
            self.design.copy_(self._design_effects())
        self._reset()

    def _whitened(self, i: int, f: torch.Tensor) -> torch.Tensor:
        """|z| of level ``i``'s features ``f`` (B×C×h×w) as B×h×w×C."""
        mean, whiten = getattr(self, f"mean{i}"), getattr(self, f"whiten{i}")
        return ((f - mean).permute(0, 2, 3, 1) @ whiten).abs()

    @staticmethod
    def _window_counts(z: torch.Tensor, tau: float, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, n): exceedances |z| > τ and (cell, component) pairs in the s × s window of every cell."""
        hits = (z > tau).sum(-1, dtype=torch.float32).unsqueeze(1)
        k = F.avg_pool2d(hits, s, 1, s // 2, count_include_pad=True) * (s * s)
        cells = F.avg_pool2d(torch.ones_like(hits), s, 1, s // 2, count_include_pad=True) * (s * s)
        return k.round(), (cells * z.shape[-1]).round()

    def _design_effects(self) -> torch.Tensor:
        """Variance of the window counts on whole normal images over the binomial variance n·p·(1 − p).

        Neighbouring cells (overlapping receptive fields) and components are not independent, so the counts
        are over-dispersed; dividing k and n by this design effect d ≥ 1 gives the binomial of the same
        mean and variance over n / d independent trials (a quasi-binomial correction).
        """
        hp = self._hparams
        d = torch.ones(len(self.level_channels), len(hp["thresholds"]), len(hp["scales"]))
        for i in range(len(self.level_channels)):
            z = self._whitened(i, torch.cat([c[i] for c in self._calib]))
            for t, tau in enumerate(hp["thresholds"]):
                p = float(self.p_tail[i, t])
                for j, s in enumerate(hp["scales"]):
                    k, n = self._window_counts(z, tau, s)
                    ratio = (k - n * p).pow(2) / (n * p * (1 - p))
                    d[i, t, j] = float(ratio.mean().clamp_min(1.0))
        return d

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.require_fitted("p_tail")
        feats = self.levels(images)
        hp = self._hparams
        size = images.shape[-2:]
        n_tests = sum(f.shape[-2] * f.shape[-1] for f in feats) * len(hp["scales"]) * len(hp["thresholds"])
        log_tests = math.log10(n_tests)
        out = torch.full((images.shape[0], *size), -math.inf, device=images.device)
        for i, f in enumerate(feats):
            b, _, h, w = f.shape
            mean = getattr(self, f"mean{i}")
            if tuple(mean.shape[1:]) != (h, w):
                raise ValueError(
                    f"a-contrario: fitted on a {tuple(mean.shape[1:])} feature grid (image_size "
                    f"{self.image_size}), got images of size {tuple(size)}"
                )
            z = self._whitened(i, f)
            best = torch.full((b, h, w), -math.inf, device=f.device)
            for t, tau in enumerate(hp["thresholds"]):
                for j, s in enumerate(hp["scales"]):
                    k, n = self._window_counts(z, tau, s)
                    d = float(self.design[i, t, j])
                    sig = -(log_tests + log10_binomial_tail(k / d, n / d, float(self.p_tail[i, t])))
                    best = torch.maximum(best, sig.squeeze(1))
            up = F.interpolate(best.unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=False)
            out = torch.maximum(out, up.squeeze(1))
        amap = gaussian_blur2d(out, hp["sigma"]).float()
        return Prediction(anomaly_map=amap, score=amap.flatten(1).amax(1))

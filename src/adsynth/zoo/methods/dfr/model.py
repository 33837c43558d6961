"""DFR (Shi, Yang, Qi, Neurocomputing 2021): a convolutional autoencoder on regional multi-layer features.

Regional features: every level of a frozen backbone is resized to the input size (bilinear) and averaged
over 4×4 cells with stride 4, then the levels are concatenated: one C-dimensional vector per 4×4 region.
A 1×1-convolution autoencoder (C → (C+2l)/2 → 2l → l and back, BatchNorm + ReLU) with l the number of
principal components that explain 90 % of the training features' variance is trained with the MSE loss
(Adam, lr 1e-4). Map: per-region squared reconstruction error, upsampled; score: the map's max.

Fitting keeps ``samples_per_image`` random regions of each training image (1×1 convolutions see every
region independently, so training on sampled regions is training on the same per-region objective) and
trains the autoencoder on them in ``fit_end``: the memory is bounded by N × samples × C, not by N × h × w.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.features import FeatureModel, finish_map


def pca_dim(x: torch.Tensor, variance: float) -> int:
    """Number of principal components of the rows of ``x`` that explain ``variance`` of its variance."""
    xc = x.double() - x.double().mean(0)
    eig = torch.linalg.eigvalsh(xc.T @ xc).flip(0).clamp_min(0)
    frac = eig.cumsum(0) / eig.sum().clamp_min(1e-30)
    return int((frac < variance).sum()) + 1


def feature_cae(c: int, latent: int) -> nn.Sequential:
    """DFR's 1×1-conv autoencoder, C → (C+2l)/2 → 2l → l → 2l → (C+2l)/2 → C, as per-vector linear layers
    (a 1×1 convolution is a linear map of each position's vector; BatchNorm1d over the vectors equals
    BatchNorm2d over the positions)."""
    mid = (c + 2 * latent) // 2
    dims = [c, mid, 2 * latent, latent, 2 * latent, mid]
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
    layers.append(nn.Linear(mid, c))
    return nn.Sequential(*layers)


@register_model("dfr")
class DFR(FeatureModel):
    """DFR: reconstruction error of regional deep features by a 1×1-conv autoencoder.

    Args:
        image_size: training/inference resolution.
        channels: 1 or 3.
        backbone: timm model name (default ``tf_efficientnet_lite0``; the paper's VGG-19 with ``--weights``).
        layers: levels concatenated (1, 2, 3, 4: every stage, as the paper's relu1-relu5 blocks).
        pretrained / weights / backbone_from: where the backbone weights come from.
        region: side of the regional average (4) and its stride.
        latent_dim: l (None: principal components explaining ``pca_variance`` of the training features).
        pca_variance: 0.9 (the code's ``PCA(n_components=0.90)``).
        epochs: autoencoder epochs over the sampled regions (the paper's code: 150).
        lr: Adam learning rate (1e-4).
        batch_regions: regions per optimisation step (4096, ≈ 4 images of 32×32 regions).
        samples_per_image: regions kept per training image for the autoencoder (256).
        sigma: Gaussian blur of the upsampled map, in pixels (0: the paper upsamples only).
        seed: seed of the sampled regions, the autoencoder's initialisation and batch order.
    """

    paper = (
        "Shi, Yang, Qi, Unsupervised anomaly segmentation via deep feature reconstruction, Neurocomput. 2021"
    )
    default_layers = (1, 2, 3, 4)

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        region: int = 4,
        latent_dim: int | None = None,
        pca_variance: float = 0.9,
        epochs: int = 150,
        lr: float = 1e-4,
        batch_regions: int = 4096,
        samples_per_image: int = 256,
        sigma: float = 0.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            region=check_positive_int(region, "region"),
            latent_dim=None if latent_dim is None else check_positive_int(latent_dim, "latent_dim"),
            pca_variance=check_range(pca_variance, 1e-6, 1.0, "pca_variance"),
            epochs=check_positive_int(epochs, "epochs"),
            lr=check_range(lr, 1e-12, 10.0, "lr"),
            batch_regions=check_positive_int(batch_regions, "batch_regions"),
            samples_per_image=check_positive_int(samples_per_image, "samples_per_image"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        self.feature_dim = sum(self.level_channels)
        self.cae: nn.Module | None = None
        if latent_dim is not None:
            self.cae = feature_cae(self.feature_dim, latent_dim)
        self._samples: list[torch.Tensor] = []
        self._seen = 0

    @torch.no_grad()
    def regional(self, images: torch.Tensor) -> torch.Tensor:
        """B×C×(H/r)×(W/r) regional features, one image at a time (bounds the full-size temporaries)."""
        feats = self.levels(images)
        size, r = images.shape[-2:], self._hparams["region"]
        out = []
        for i in range(images.shape[0]):
            parts = [
                F.avg_pool2d(
                    F.interpolate(f[i : i + 1], size=size, mode="bilinear", align_corners=False), r, r
                )
                for f in feats
            ]
            out.append(torch.cat(parts, 1))
        return torch.cat(out)

    # ------------------------------------------------------------------ fit
    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        x = self.regional(batch["image"])
        b, c, h, w = x.shape
        vec = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        k = min(self._hparams["samples_per_image"], h * w)
        gen = torch.Generator().manual_seed(self._hparams["seed"] * 1_000_003 + self._seen)
        idx = torch.stack([torch.randperm(h * w, generator=gen)[:k] for _ in range(b)]).to(vec.device)
        self._samples.append(torch.gather(vec, 1, idx.unsqueeze(2).expand(-1, -1, c)).reshape(-1, c).cpu())
        self._seen += b

    def fit_end(self) -> None:
        if not self._samples:
            raise RuntimeError("dfr: fit_end() called before any fit_batch()")
        data = torch.cat(self._samples)
        self._samples, self._seen = [], 0
        hp = self._hparams
        device = next(self.backbone.parameters()).device
        if self.cae is None:
            hp["latent_dim"] = min(pca_dim(data, hp["pca_variance"]), self.feature_dim)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(hp["seed"])
                self.cae = feature_cae(self.feature_dim, hp["latent_dim"]).to(device)
        gen = torch.Generator().manual_seed(hp["seed"] + 1)
        opt = torch.optim.Adam(self.cae.parameters(), lr=hp["lr"])
        bs = min(hp["batch_regions"], data.shape[0])
        self.cae.train()
        with torch.enable_grad():
            for _ in range(hp["epochs"]):
                order = torch.randperm(data.shape[0], generator=gen)
                for s in range(0, data.shape[0] - bs + 1, bs):  # full batches only (BatchNorm)
                    x = data[order[s : s + bs]].to(device)
                    loss = F.mse_loss(self.cae(x), x)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        self.cae.eval()

    # ------------------------------------------------------------------ predict
    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        if self.cae is None:
            raise RuntimeError("dfr is not fitted: run fit_batch()/fit_end() (or load a checkpoint)")
        self.cae.eval()
        x = self.regional(images)
        b, c, h, w = x.shape
        v = x.permute(0, 2, 3, 1).reshape(-1, c)
        err = (self.cae(v) - v).pow(2).mean(1).view(b, h, w)
        amap, score = finish_map(err, images.shape[-2:], self._hparams["sigma"])
        return Prediction(anomaly_map=amap, score=score)

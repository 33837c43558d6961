"""MLF-SC (2020): multi-layer features of a pretrained CNN, sparse coding, reconstruction error as map.

Fit: levels 1-3 of a frozen backbone are brought to level 1's grid and concatenated; ``samples_per_image``
random position vectors of every normal training image are kept; a dictionary of ``n_atoms`` unit-norm
atoms is learned on them by alternating sparse coding (orthogonal matching pursuit, ``n_nonzero``
coefficients) and the least-squares dictionary update (MOD, Engan et al. 1999). Predict: every position's
vector is coded by OMP with the dictionary; the squared reconstruction error is the map (bilinear, σ = 4
blur); score = max.
"""

from __future__ import annotations

from typing import Any

import torch

from adsynth._validation import check_positive_int, check_range
from adsynth.zoo.base import Prediction, register_model
from adsynth.zoo.components.features import FeatureModel, concat_levels, finish_map

#: Vectors coded at once by omp (bounds the B×atoms correlation matrix and the B×k×k Gram systems).
_OMP_BLOCK = 16384


def omp(x: torch.Tensor, dictionary: torch.Tensor, n_nonzero: int) -> torch.Tensor:
    """Batched orthogonal matching pursuit.

    Args:
        x: N×d signals.
        dictionary: A×d unit-norm atoms (rows).
        n_nonzero: atoms per signal (k ≤ A).

    Returns:
        N×A sparse codes c with x ≈ c @ dictionary and at most ``n_nonzero`` non-zeros per row.
    """
    codes = torch.zeros(x.shape[0], dictionary.shape[0], dtype=x.dtype, device=x.device)
    for s in range(0, x.shape[0], _OMP_BLOCK):
        xb = x[s : s + _OMP_BLOCK]
        resid = xb.clone()
        chosen = torch.zeros(xb.shape[0], 0, dtype=torch.long, device=x.device)
        coef = None
        for _ in range(min(n_nonzero, dictionary.shape[0])):
            corr = (resid @ dictionary.T).abs()
            corr.scatter_(1, chosen, -1.0)  # never pick an atom twice
            chosen = torch.cat([chosen, corr.argmax(1, keepdim=True)], 1)
            atoms = dictionary[chosen]  # B×t×d
            gram = atoms @ atoms.transpose(1, 2)
            gram += 1e-6 * torch.eye(gram.shape[-1], dtype=x.dtype, device=x.device)
            rhs = (atoms @ xb.unsqueeze(2)).squeeze(2)
            coef = torch.linalg.solve(gram, rhs)  # least squares on the chosen atoms
            resid = xb - (coef.unsqueeze(1) @ atoms).squeeze(1)
        if coef is not None:
            codes[s : s + _OMP_BLOCK].scatter_(1, chosen, coef)
    return codes


def learn_dictionary(
    x: torch.Tensor, n_atoms: int, n_nonzero: int, iterations: int, generator: torch.Generator
) -> torch.Tensor:
    """MOD dictionary learning: atoms start as random signals; each iteration codes ``x`` by OMP and
    solves D = argmin ‖X − C D‖² (ridge 1e-6), renormalising atoms and re-seeding unused ones."""
    n = x.shape[0]
    d = x[torch.randperm(n, generator=generator)[:n_atoms].to(x.device)].clone()
    if d.shape[0] < n_atoms:
        d = torch.cat([d, torch.randn(n_atoms - d.shape[0], x.shape[1], generator=generator).to(x)])
    d = d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
    for _ in range(iterations):
        c = omp(x, d, n_nonzero)
        used = c.abs().sum(0) > 0
        cc = c.T @ c + 1e-6 * torch.eye(n_atoms, dtype=x.dtype, device=x.device)
        new = torch.linalg.solve(cc, c.T @ x)
        # Unused atoms: replaced by the worst-reconstructed signals.
        if not bool(used.all()):
            err = (x - c @ d).pow(2).sum(1)
            worst = err.topk(int((~used).sum())).indices
            new[~used] = x[worst]
        d = new / new.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return d


@register_model("mlf-sc")
class MLFSC(FeatureModel):
    """MLF-SC: sparse-coding reconstruction error of multi-layer CNN features.

    Args:
        image_size: training/inference resolution.
        channels: 1 or 3.
        backbone: timm model name (default ``tf_efficientnet_lite0``, bundled ImageNet weights).
        layers: levels concatenated (1, 2, 3).
        pretrained / weights / backbone_from: where the backbone weights come from.
        n_atoms: dictionary size (256).
        n_nonzero: non-zero coefficients per position (OMP sparsity, 5).
        iterations: dictionary-learning iterations (10).
        samples_per_image: position vectors kept per training image for learning (256).
        sigma: Gaussian blur of the map, in pixels (4).
        seed: seed of the samples and the initial atoms.
    """

    paper = "MLF-SC: Incorporating multi-layer features to sparse coding for anomaly detection, 2020"
    lazy_buffers = ("dictionary",)

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        n_atoms: int = 256,
        n_nonzero: int = 5,
        iterations: int = 10,
        samples_per_image: int = 256,
        sigma: float = 4.0,
        seed: int = 0,
        **backbone_options: Any,
    ) -> None:
        super().__init__(
            image_size,
            channels,
            n_atoms=check_positive_int(n_atoms, "n_atoms"),
            n_nonzero=check_positive_int(n_nonzero, "n_nonzero"),
            iterations=check_positive_int(iterations, "iterations"),
            samples_per_image=check_positive_int(samples_per_image, "samples_per_image"),
            sigma=check_range(sigma, 0.0, 1e3, "sigma"),
            seed=int(seed),
            **backbone_options,
        )
        self.register_buffer("dictionary", torch.empty(0, sum(self.level_channels)))
        self._samples: list[torch.Tensor] = []
        self._seen = 0

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """B×h×w×C multi-layer features at the first level's grid."""
        return concat_levels(self.levels(images)).permute(0, 2, 3, 1).contiguous()

    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        emb = self.embed(batch["image"])
        b, h, w, c = emb.shape
        vec = emb.view(b, h * w, c)
        k = min(self._hparams["samples_per_image"], h * w)
        gen = torch.Generator().manual_seed(self._hparams["seed"] * 1_000_003 + self._seen)
        idx = torch.stack([torch.randperm(h * w, generator=gen)[:k] for _ in range(b)]).to(vec.device)
        self._samples.append(torch.gather(vec, 1, idx.unsqueeze(2).expand(-1, -1, c)).reshape(-1, c))
        self._seen += b

    @torch.no_grad()
    def fit_end(self) -> None:
        if not self._samples:
            raise RuntimeError("mlf-sc: fit_end() called before any fit_batch()")
        x = torch.cat(self._samples)
        self._samples, self._seen = [], 0
        hp = self._hparams
        gen = torch.Generator().manual_seed(hp["seed"] + 1)
        d = learn_dictionary(x, hp["n_atoms"], hp["n_nonzero"], hp["iterations"], gen)
        self.dictionary = d.to(self.dictionary.device)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.require_fitted("dictionary")
        emb = self.embed(images)
        b, h, w, c = emb.shape
        x = emb.view(-1, c)
        d = self.dictionary.to(x.device)
        err = (x - omp(x, d, self._hparams["n_nonzero"]) @ d).pow(2).sum(1).view(b, h, w)
        amap, score = finish_map(err, images.shape[-2:], self._hparams["sigma"])
        return Prediction(anomaly_map=amap, score=score)

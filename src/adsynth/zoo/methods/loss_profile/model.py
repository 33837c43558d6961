"""Loss profiles: a sample is judged by the trajectory of its reconstruction loss along training.

After the survey's "neural batch sampling" / loss-profile idea: a small fully convolutional autoencoder
is trained on normal images, and ``snapshots`` copies of its weights are kept along training (at the
ends of evenly spaced epochs; the last one is the final model). A sample's *loss profile* at a position
is the vector of the log of its squared reconstruction error there (averaged over a ``cell``×``cell``
cell) under each snapshot. The fitting pass after training gathers the profiles of the normal training
images and fits a Gaussian to them, per cell position (``density="position"``) or one for all positions
(``"shared"``); the map is the Mahalanobis distance of a test profile to it, upsampled and blurred, the
image score its maximum. The snapshots are buffers of the model (one flat weight vector each), so they
live in checkpoints and a resumed run takes the same ones.

The reinforcement-learning batch sampler of the original work is not built (README).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from adsynth._validation import check_choice, check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.features import GaussianAccumulator, finish_map, mahalanobis

DENSITIES = ("position", "shared")
LOG_EPS = 1e-4  # floor of the squared error (images in [0, 1]) before the log


def conv_autoencoder(channels: int, widths: tuple[int, ...], latent: int) -> nn.Sequential:
    """Fully convolutional AE without normalisation layers (so a weight vector is the whole state): per
    width a stride-2 3×3 conv and LeakyReLU, a 1×1 bottleneck of ``latent`` channels, and the mirror
    decoder (nearest upsampling + 3×3 conv), sigmoid output."""
    act = nn.LeakyReLU(0.2)
    layers: list[nn.Module] = []
    cin = channels
    for w in widths:
        layers += [nn.Conv2d(cin, w, 3, stride=2, padding=1), act]
        cin = w
    layers += [nn.Conv2d(cin, latent, 1), act, nn.Conv2d(latent, cin, 1), act]
    outs = list(reversed((channels, *widths[:-1])))
    for i, w in enumerate(outs):
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, w, 3, padding=1)]
        layers.append(nn.Sigmoid() if i == len(outs) - 1 else act)
        cin = w
    return nn.Sequential(*layers)


def snapshot_epochs(snapshots: int, epochs: int) -> list[int]:
    """The epoch counts after which snapshots 0..K−1 are taken: ``round((k + 1) · epochs / K)``; the
    last is ``epochs`` (the final model).

    Example:
        >>> snapshot_epochs(4, 10)
        [2, 5, 8, 10]
    """
    return [round((k + 1) * epochs / snapshots) for k in range(snapshots)]


@register_model("loss-profile")
class LossProfile(AnomalyModel):
    """Autoencoder loss trajectories across training snapshots, scored by a Gaussian of normal profiles.

    Args:
        image_size: side of the square input, a multiple of ``2**len(widths)`` and of ``cell``.
        channels: 1 or 3.
        widths: channels of the encoder's stride-2 stages.
        latent: channels of the 1×1 bottleneck.
        snapshots: K, the length of a loss profile (the final model included); the run's epochs must be
            at least K.
        cell: side in pixels of the cells over which the error is averaged (the density's positions).
        density: ``"position"`` (a Gaussian per cell position) or ``"shared"`` (one for all cells).
        eps: ridge added to the profile covariance.
        sigma: Gaussian blur of the map in pixels (None: 4 px at 256 px, scaled with the side).

    Example:
        >>> m = LossProfile(image_size=32, widths=(4, 8), latent=4, snapshots=2)
        >>> m.fit_batch({"image": torch.rand(4, 3, 32, 32)}); m.fit_end()
        >>> m.eval().predict(torch.rand(1, 3, 32, 32)).anomaly_map.shape
        torch.Size([1, 32, 32])
    """

    family = "reconstruction"
    paper = (
        "Chu & Kitani, Neural Batch Sampling with RL for Semi-Supervised AD, ECCV 2020 (loss profiles only)"
    )
    fit_mode = "both"
    default_epochs = 50
    default_batch_size = 16
    default_lr = 1e-3

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        widths: tuple[int, ...] = (32, 64, 128),
        latent: int = 16,
        snapshots: int = 5,
        cell: int = 4,
        density: str = "position",
        eps: float = 0.01,
        sigma: float | None = None,
    ) -> None:
        image_size = check_positive_int(image_size, "image_size")
        widths = tuple(check_positive_int(w, "widths[]") for w in widths)
        if not widths:
            raise ConfigError("expected `widths` to hold at least one stage")
        cell = check_positive_int(cell, "cell")
        if image_size % 2 ** len(widths) or image_size % cell:
            raise ConfigError(
                f"expected `image_size` to be a multiple of {2 ** len(widths)} and of `cell`={cell}, "
                f"got {image_size}"
            )
        if sigma is not None:
            sigma = check_range(sigma, 0.0, 1e3, "sigma")
        super().__init__(
            image_size,
            channels,
            widths=list(widths),
            latent=check_positive_int(latent, "latent"),
            snapshots=check_positive_int(snapshots, "snapshots"),
            cell=cell,
            density=check_choice(density, DENSITIES, "density"),
            eps=check_range(eps, 1e-8, 1e3, "eps"),
            sigma=sigma,
        )
        self.sigma = 4.0 * image_size / 256 if sigma is None else float(sigma)
        self.net = conv_autoencoder(self.channels, widths, int(latent))
        n_weights = sum(p.numel() for p in self.net.parameters())
        k = int(snapshots)
        self.register_buffer("snapshot_weights", torch.zeros(k, n_weights))
        self.register_buffer("snapshot_taken", torch.zeros(k, dtype=torch.bool))
        positions = 1 if density == "shared" else (image_size // cell) ** 2
        self.register_buffer("profile_mean", torch.zeros(positions, k))
        self.register_buffer("profile_inv_cov", torch.zeros(positions, k, k))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self._acc = GaussianAccumulator(self.name)

    # ------------------------------------------------------------------ training
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"].float()
        self.check_images(x, self.channels)
        return {"loss": F.mse_loss(self.net(x), x)}

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        k = self._hparams["snapshots"]
        if epochs < k:
            raise ConfigError(f"expected `snapshots` ({k}) <= the run's epochs ({epochs})")
        # The weights at the start of epoch e are those after e epochs (also in a resumed run).
        for slot, after in enumerate(snapshot_epochs(k, epochs)[:-1]):
            if after == epoch:
                self.snapshot_weights[slot] = nn.utils.parameters_to_vector(self.net.parameters()).detach()
                self.snapshot_taken[slot] = True

    # ------------------------------------------------------------------ profiles
    def _weights(self, slot: int) -> dict[str, torch.Tensor]:
        """The AE's parameters of snapshot ``slot``; the current ones for the last slot and for any slot
        not taken (a model trained without the trainer's epochs)."""
        current = dict(self.net.named_parameters())
        if slot == len(self.snapshot_taken) - 1 or not bool(self.snapshot_taken[slot]):
            return current
        flat, out, i = self.snapshot_weights[slot], {}, 0
        for name, p in current.items():
            out[name] = flat[i : i + p.numel()].view_as(p)
            i += p.numel()
        return out

    def profiles(self, images: torch.Tensor) -> torch.Tensor:
        """B×(h·w)×K loss profiles: log squared error per cell under each snapshot."""
        x = images.float()
        cols = []
        for slot in range(len(self.snapshot_taken)):
            rec = functional_call(self.net, self._weights(slot), (x,))
            err = F.avg_pool2d((rec - x).square().mean(1, keepdim=True), self._hparams["cell"])
            cols.append(torch.log(err + LOG_EPS).flatten(1))
        return torch.stack(cols, dim=-1)

    def _density_input(self, prof: torch.Tensor) -> torch.Tensor:
        return prof.reshape(-1, 1, prof.shape[-1]) if self._hparams["density"] == "shared" else prof

    @torch.no_grad()
    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        images = batch["image"]
        self.check_images(images, self.channels)
        self._acc.add(self._density_input(self.profiles(images)))

    @torch.no_grad()
    def fit_end(self) -> None:
        mean, inv = self._acc.finish(self._hparams["eps"])
        self.profile_mean.copy_(mean)
        self.profile_inv_cov.copy_(inv)
        self.fitted.fill_(True)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        if not bool(self.fitted):
            raise RuntimeError(f"{self.name} is not fitted: run fit_batch()/fit_end() (or load a checkpoint)")
        self.check_images(images, self.channels)
        cell = self._hparams["cell"]
        h, w = images.shape[-2] // cell, images.shape[-1] // cell
        if self._hparams["density"] == "position" and h * w != len(self.profile_mean):
            raise ValueError(
                f"expected images of {self.image_size}×{self.image_size} px (a density per position), "
                f"got {tuple(images.shape[-2:])}"
            )
        prof = self.profiles(images)
        dist = mahalanobis(self._density_input(prof), self.profile_mean, self.profile_inv_cov)
        amap, score = finish_map(dist.reshape(len(images), h, w), images.shape[-2:], self.sigma)
        return Prediction(anomaly_map=amap, score=score)

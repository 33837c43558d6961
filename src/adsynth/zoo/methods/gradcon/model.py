"""GradCon (Kwon et al., ECCV 2020): an autoencoder trained with a gradient constraint and scored by
its reconstruction error plus how far a sample's gradient points from the training gradients.

The network is the paper's convolutional autoencoder (4×4 / stride-2 convolutions with ReLU, mirrored by
transposed convolutions, sigmoid output). Training loss: ``MSE + alpha · L_grad`` with
``L_grad = −mean_l cos(∂MSE/∂W_l, mean of the past training gradients of W_l)`` over the decoder's
layers (the first step, with no history yet, has no constraint). The running means are buffers,
updated from each step's ``weight.grad`` (:class:`~adsynth.zoo.components.gradients.RunningGradients`).
Image score: ``MSE(x) + beta · L_grad(x)`` from the sample's own gradient (``torch.func``, batched);
anomaly map: the squared reconstruction error (Gaussian-smoothed), the paper's method being image-level.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from adsynth._validation import check_positive_int, check_range
from adsynth.errors import ConfigError
from adsynth.zoo.base import AnomalyModel, Prediction, register_model
from adsynth.zoo.components.batching import chunked
from adsynth.zoo.components.gradients import RunningGradients, gradient_constraint_loss, per_sample_gradients
from adsynth.zoo.components.maps import reconstruction_map, smoothed_map
from adsynth.zoo.components.modes import eval_mode


def _check_widths(widths: Any, image_size: int) -> tuple[int, ...]:
    try:
        out = tuple(check_positive_int(w, "widths") for w in widths)
    except TypeError:
        raise ConfigError(f"expected `widths` to be a list of positive ints, got {widths!r}") from None
    if not out:
        raise ConfigError("expected `widths` to hold at least one width, got an empty list")
    m = 2 ** len(out)
    if image_size < m or image_size % m:
        raise ConfigError(
            f"expected `image_size` to be a positive multiple of {m} (2**len(widths)), got {image_size}"
        )
    return out


@register_model("gradcon")
class GradCon(AnomalyModel):
    """Autoencoder with the gradient constraint (GradCon).

    Args:
        image_size: square side, a multiple of ``2**len(widths)``.
        channels: 1 or 3.
        widths: channels of the encoder's stride-2 convolutions (paper: 32, 32, 64, 64); the decoder
            mirrors them, and every decoder layer is constrained.
        alpha: weight of the gradient loss in training (the code's ``--grad-loss-weight`` 0.03).
        beta: weight of the gradient loss in the image score (the code's evaluation: 0.12).
        map_sigma: σ in pixels of the Gaussian applied to the error map (None: ``image_size / 64``).
        chunk: samples per batched per-sample-gradient pass at inference.

    Example:
        >>> m = GradCon(image_size=32, widths=(8, 8)).eval()
        >>> m.predict(torch.rand(2, 3, 32, 32)).score.shape
        torch.Size([2])
    """

    family = "reconstruction"
    paper = "Kwon et al., Backpropagated Gradient Representations for Anomaly Detection, ECCV 2020"
    default_epochs = 100
    default_batch_size = 64
    default_lr = 1e-3

    def __init__(
        self,
        image_size: int = 128,
        channels: int = 3,
        widths: tuple[int, ...] | list[int] = (32, 32, 64, 64),
        alpha: float = 0.03,
        beta: float = 0.12,
        map_sigma: float | None = None,
        chunk: int = 16,
    ) -> None:
        widths = _check_widths(widths, check_positive_int(image_size, "image_size"))
        if map_sigma is not None:
            map_sigma = check_range(map_sigma, 0.0, 1e3, "map_sigma")
        super().__init__(
            image_size,
            channels,
            widths=list(widths),
            alpha=check_range(alpha, 0.0, 1e3, "alpha"),
            beta=check_range(beta, 0.0, 1e3, "beta"),
            map_sigma=map_sigma,
            chunk=check_positive_int(chunk, "chunk"),
        )
        chans = [self.channels, *widths]
        enc: list[nn.Module] = []
        for cin, cout in zip(chans[:-1], chans[1:], strict=True):
            enc += [nn.Conv2d(cin, cout, 4, 2, 1), nn.ReLU()]
        dec: list[nn.Module] = []
        for cin, cout in zip(chans[:0:-1], chans[-2::-1], strict=True):
            dec += [nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.ReLU()]
        dec[-1] = nn.Sigmoid()
        self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
        self.layer_names = [f"decoder.{i}.weight" for i in range(0, len(dec), 2)]
        params = dict(self.named_parameters())
        self.reference = RunningGradients([params[n] for n in self.layer_names], lambda: self.training)
        self.sigma = self.image_size / 64 if map_sigma is None else float(map_sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def decoder_weights(self) -> list[nn.Parameter]:
        """The constrained weights, decoder input to output."""
        params = dict(self.named_parameters())
        return [params[n] for n in self.layer_names]

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = batch["image"]
        self.check_images(x, self.channels)
        recon = F.mse_loss(self(x).float(), x.float())
        if self.reference.ready():
            grads = torch.autograd.grad(recon, self.decoder_weights(), create_graph=True)
            grad_loss = gradient_constraint_loss(grads, self.reference.means())
        else:
            grad_loss = recon.new_zeros(())  # no gradient history at the first step (as the code)
        loss = recon + self._hparams["alpha"] * grad_loss
        return {"loss": loss, "recon": recon.detach(), "grad_loss": grad_loss.detach()}

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        """B×2: per-sample MSE and gradient loss."""
        fixed = {k: v.detach() for k, v in self.named_parameters() if k not in self.layer_names}
        buffers = dict(self.named_buffers())

        def loss_fn(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
            rec = functional_call(self, ({**fixed, **p}, buffers), (xi,))
            return F.mse_loss(rec.float(), xi.float())

        with torch.enable_grad():
            params = {n: dict(self.named_parameters())[n].detach() for n in self.layer_names}
            grads = per_sample_gradients(loss_fn, params, x)
        g = gradient_constraint_loss([grads[n] for n in self.layer_names], self.reference.means())
        rec = self(x)
        return torch.stack([(rec.float() - x.float()).pow(2).flatten(1).mean(1), g], 1)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> Prediction:
        self.check_images(images, self.channels)
        with eval_mode(self):
            parts = chunked(self._scores, images, self._hparams["chunk"])
            amap = smoothed_map(reconstruction_map(images, self(images), "l2"), self.sigma)
        score = parts[:, 0] + self._hparams["beta"] * parts[:, 1]
        return Prediction(anomaly_map=amap.float(), score=score.float())

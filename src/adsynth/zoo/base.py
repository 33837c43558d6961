"""The small interface every zoo method implements, and the model registry.

A method is an ``nn.Module`` subclass of :class:`AnomalyModel`, registered once with
``@register_model("name")``. The generic trainer (:mod:`adsynth.zoo.trainer`) drives every method
through the same entry points:

* ``fit_mode == "gradient"``: ``configure_optimizers()`` then ``training_step(batch)`` for each batch
  of each epoch (reconstruction, DRAEM, ...);
* ``fit_mode == "fit"``: one pass of ``fit_batch(batch)`` over the training data, then ``fit_end()``
  (feature-embedding methods that only fit statistics: PatchCore, PaDiM);
* ``fit_mode == "both"``: gradient training, then a fitting pass (CutPaste: classifier, then GDE).

Optional hooks for adversarial and multi-phase training (GANomaly, f-AnoGAN, OGNet), all backwards
compatible:

* ``configure_optimizers()`` may return a *list* of ``(optimizer, scheduler_or_None)`` pairs. The
  trainer then calls ``training_step(batch, optimizer_idx=i)`` for each ``i`` in order on every batch;
  each returned loss is back-propagated on its own (all of the model's gradients cleared first) and
  steps optimizer ``i`` only. ``training_step`` returns None for an optimizer that is idle on this
  batch or in this phase (a WGAN generator between critic steps, a frozen network). Checkpoints then
  hold lists of optimizer and scheduler states.
* ``on_epoch_start(epoch, epochs)`` is called before every epoch (``epoch`` counts from 0, also when a
  run resumes), so that a model can switch phase by epoch. State that a phase creates (a frozen copy of
  a network, a step counter) must live in parameters or buffers, so that it is saved in checkpoints
  and ``--resume`` continues exactly. So must random state: draw from the global torch RNG (the trainer
  saves it), or from a generator derived per step, e.g. ``np.random.default_rng([seed, step])`` with
  ``step`` a buffer, never from a generator kept as a plain attribute.

Inputs are float tensors in [0, 1], shape B×C×H×W (C = 1 or 3); each model normalises internally.
In eval mode :meth:`AnomalyModel.predict` returns a :class:`Prediction` with an anomaly map at input
resolution and an image score (higher = more anomalous).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from adsynth.errors import ConfigError
from adsynth.registry import Registry


def _set_name(name: str, cls: type) -> None:
    cls.name = name


MODELS: Registry[type[AnomalyModel]] = Registry("model", "hyper-parameter", on_register=_set_name)


@dataclass
class Prediction:
    """A batch of predictions.

    Attributes:
        anomaly_map: B×H×W float32, at the input resolution, higher = more anomalous.
        score: B float32 image scores (by default the max of the map).
    """

    anomaly_map: torch.Tensor
    score: torch.Tensor


def register_model(name: str):
    """Class decorator: register an :class:`AnomalyModel` subclass under ``name`` and set ``cls.name``
    (``MODELS.register``, the one registration path)."""
    return MODELS.register(name)


class AnomalyModel(nn.Module):
    """Base class of every zoo method.

    Class attributes (shown by ``adsynth models``):
        family: "reconstruction", "inpainting", "memory", "gan", "flow", "distillation",
            "feature-embedding", "self-supervised" or "one-class".
        paper: short citation.
        needs_pretrained: True when the method needs a pretrained backbone to be useful.
        fit_mode: "gradient", "fit" or "both" (see the module docstring).
        uses_synthetic: True when training batches must carry synthetic anomalies
            (``aug_image``, ``aug_mask``, ``aug_label``), made online by a synth recipe.
        default_recipe: the recipe used for online synthesis when the user gives none.
        supervision: what the method can learn from: ``"unsupervised"`` (normal images, with or without
            synthetic anomalies), ``"weak"`` (defective photos with image labels only) and ``"full"``
            (defective photos with masks). The trainer refuses real defects (``--real-defects``) that a
            model does not declare, in one line, instead of silently ignoring them. A model that declares
            ``weak`` or ``full`` finds in its training batches ``real_label`` (B, 1 for a real defective
            photo), ``real_mask`` (B×1×H×W) and ``real_has_mask`` (B, 0 for a photo whose mask it must
            not use); with a recipe, a real defective photo's ``aug_image`` is the photo itself and its
            ``aug_mask`` the real mask (see :mod:`adsynth.zoo.data`).
        default_epochs, default_batch_size, default_lr: training defaults of the method.
        supported_channels: the image channel counts the method accepts; ``__init__`` raises a
            :class:`~adsynth.errors.ConfigError` for any other ``channels``.

    Args:
        image_size: training/inference resolution (square).
        channels: one of ``supported_channels`` (1 or 3).
        **hparams: method hyper-parameters; stored by :meth:`config` in checkpoints.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    needs_pretrained: ClassVar[bool] = False
    fit_mode: ClassVar[str] = "gradient"
    uses_synthetic: ClassVar[bool] = False
    default_recipe: ClassVar[str | None] = None
    supervision: ClassVar[tuple[str, ...]] = ("unsupervised",)
    default_epochs: ClassVar[int] = 50
    default_batch_size: ClassVar[int] = 8
    default_lr: ClassVar[float] = 1e-3
    supported_channels: ClassVar[tuple[int, ...]] = (1, 3)

    def __init__(self, image_size: int = 256, channels: int = 3, **hparams: Any) -> None:
        if isinstance(channels, bool) or channels not in self.supported_channels:
            allowed = " or ".join(str(c) for c in self.supported_channels)
            raise ConfigError(f"expected `channels` to be {allowed}, got {channels!r}")
        super().__init__()
        self.image_size = int(image_size)
        self.channels = int(channels)
        self._hparams = dict(hparams)
        #: False when the trainer runs the real-only baseline (``--no-synthetic``): a model that makes
        #: its own anomalies (feature noise) leaves them out; not saved (training-time only)
        self.synthetic_anomalies = True

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild the model: ``MODELS.create(name, **config)``."""
        return {"image_size": self.image_size, "channels": self.channels, **self._hparams}

    # ------------------------------------------------------------------ capabilities (read by the trainer)
    @property
    def reuses_train_features(self) -> bool:
        """True when the model keeps the features of each training image (by its ``index``) and reuses them
        in later epochs: the trainer then refuses random crops, whose windows change every epoch."""
        return False

    @property
    def single_process_reason(self) -> str | None:
        """Why the model, as configured, cannot train under ``torchrun`` (a one-line message naming the
        option); None (default): it can."""
        return None

    # ------------------------------------------------------------------ training
    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        """Return ``(optimizer, scheduler_or_None)``; default Adam at ``lr``."""
        opt = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=lr or self.default_lr)
        return opt, None

    def training_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One optimisation step's loss: returns a dict with ``loss`` (scalar) and optional logs.

        Models with several optimizers take ``optimizer_idx`` (see the module docstring) and may return
        None for an idle optimizer.
        """
        raise NotImplementedError(f"{self.name} does not train by gradient")

    def train_rotation(self) -> tuple[float, float] | None:
        """``(probability, max_degrees)``: the trainer rotates each normal training image (the target
        as well as the input of the synthesis) by U(−max, max) degrees with this probability, about its
        centre, black outside (DRAEM's augmentation); None (default): no rotation."""
        return None

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Called by the trainer before epoch ``epoch`` (0-based) of ``epochs``; default: nothing."""

    def on_train_start(self, dataset: Any) -> None:
        """Called by the trainer once before the gradient phase, also when a run resumes, with the
        training dataset (items of plain normal images: ``image``, ``index``; no synthesis yet; not
        called for tiled training, whose windows change every epoch). A
        model may precompute what depends only on the normal images, e.g. frozen features in a fixed
        order (so that a resumed run sees exactly the same values); default: nothing."""

    def fit_batch(self, batch: dict[str, torch.Tensor]) -> None:
        """Accumulate statistics from one batch of normal images (fit-mode methods)."""
        raise NotImplementedError(f"{self.name} has no fitting pass")

    def fit_end(self) -> None:
        """Finish the fitting pass (build the memory bank, the Gaussians, ...)."""

    # ------------------------------------------------------------------ inference
    def predict(self, images: torch.Tensor) -> Prediction:
        """Anomaly maps (B×H×W at input resolution) and scores (B) for images in [0, 1]."""
        raise NotImplementedError

    @staticmethod
    def check_images(images: torch.Tensor, channels: int) -> None:
        if images.ndim != 4 or images.shape[1] != channels:
            raise ValueError(f"expected images of shape B×{channels}×H×W, got {tuple(images.shape)}")

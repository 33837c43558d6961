"""Checkpoints of zoo models: plain tensors and Python data only, readable with ``weights_only=True``.

A run folder holds two checkpoints, each written atomically (temporary file, then ``os.replace``) at the
end of every epoch:

* ``model.pt``: what prediction needs, the weights and how to rebuild the model;
* ``last.pt``: the same plus the optimizer, scheduler, gradient scaler and RNG states, for ``--resume``.
  A model with several optimizers (a GAN) has lists under ``optimizer`` and ``scheduler``, one state
  per optimizer in ``configure_optimizers()`` order.

Both are dicts with ``format`` (``"adsynth-checkpoint"``), ``format_version``, ``adsynth_version``,
``model`` (registry name), ``config`` (``model.config()``), ``state_dict``, ``train_config``,
``data_fingerprint``, ``data_resize`` (how ``dataset import`` fitted the training photos, or None),
``epoch`` (completed epochs), ``step``, ``fitted`` and ``metrics`` (the last epoch's mean losses).

Example:
    >>> from adsynth.zoo.checkpoint import load_model
    >>> model = load_model("runs/draem/model.pt", device="cpu")  # doctest: +SKIP
    >>> model.predict(images).score  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from adsynth import __version__
from adsynth.data.fingerprint import data_fingerprint as data_fingerprint  # re-exported: its old home
from adsynth.errors import ConfigError, DataError, FormatError
from adsynth.fsutil import atomic_path, check_free_space, writing
from adsynth.zoo.device import resolve_device
from adsynth.zoo.precheck import LAST_FILE as LAST_FILE  # re-exported: the run folder's files
from adsynth.zoo.precheck import MODEL_FILE as MODEL_FILE
from adsynth.zoo.torchfile import load_tensors

CHECKPOINT_FORMAT = "adsynth-checkpoint"
CHECKPOINT_VERSION = 1

# Keys only ``last.pt`` carries.
TRAINING_STATE_KEYS = ("optimizer", "scheduler", "scaler", "rng")


def rng_state() -> dict[str, Any]:
    """The global torch RNG states (CPU and every CUDA device) as tensors."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states saved by :func:`rng_state` (CUDA states only when the device count matches)."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def _cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def make_checkpoint(model: torch.nn.Module, **fields: Any) -> dict[str, Any]:
    """The checkpoint dict of ``model`` (an :class:`~adsynth.zoo.base.AnomalyModel`) plus ``fields``."""
    return {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "adsynth_version": __version__,
        "model": type(model).name,
        "config": dict(model.config()),
        "state_dict": _cpu(model.state_dict()),
        **fields,
    }


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """Write ``checkpoint`` atomically: a temporary file in the same folder, then ``os.replace``."""
    p = Path(path)
    with writing(p):
        p.parent.mkdir(parents=True, exist_ok=True)
    need = _tensor_bytes(checkpoint) + (1 << 20)
    check_free_space(p.parent, need, p)
    with atomic_path(p) as tmp, open(tmp, "wb") as f:
        try:
            torch.save(checkpoint, f)
        except RuntimeError:
            # torch's zip writer reports a short write as "unexpected pos", without the errno
            check_free_space(p.parent, need, p)
            raise
    return p


def _tensor_bytes(obj: Any) -> int:
    """The bytes of the tensors in a (nested) checkpoint dict: about the size of its file."""
    if isinstance(obj, torch.Tensor):
        return obj.nelement() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint (``weights_only=True``: no pickled objects are executed)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"checkpoint {p} not found")
    ckpt = load_tensors(p, FormatError, "an adsynth checkpoint", map_location=map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise FormatError(f"{p}: not an adsynth checkpoint (a PyTorch file of other data)")
    version = ckpt.get("format_version")
    if not isinstance(version, int) or version > CHECKPOINT_VERSION or version < 1:
        raise FormatError(
            f"{p}: checkpoint format version {version} is not supported "
            f"(this adsynth reads version {CHECKPOINT_VERSION})"
        )
    kinds = {"model": str, "config": dict, "state_dict": dict}
    bad = [k for k, kind in kinds.items() if not isinstance(ckpt.get(k), kind)]
    if bad:
        raise FormatError(f"{p}: not a complete adsynth checkpoint (no valid {', '.join(bad)})")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], source: str = "checkpoint"):
    """Rebuild the model recorded in a checkpoint dict and load its weights (CPU, eval mode)."""
    from adsynth.zoo import create_model

    try:
        model = create_model(ckpt["model"], **ckpt["config"])
    except ConfigError as e:  # a checkpoint of another adsynth version, or edited: the file is bad
        raise FormatError(f"{source}: {str(e).splitlines()[0]}") from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise FormatError(
            f"{source}: weights do not match model {ckpt['model']!r} ({str(e).splitlines()[0]})"
        ) from None
    return model.eval()


def load_model(checkpoint: str | os.PathLike, device: str | torch.device = "cpu"):
    """Load a trained model for prediction or evaluation.

    Args:
        checkpoint: a ``model.pt`` (or ``last.pt``) written by the trainer.
        device: where to put the model (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Returns:
        The :class:`~adsynth.zoo.base.AnomalyModel` in eval mode.

    Example:
        >>> model = load_model("runs/ae/model.pt")  # doctest: +SKIP
    """
    ckpt = read_checkpoint(checkpoint)
    return model_from_checkpoint(ckpt, str(checkpoint)).to(resolve_device(device))


def load_reconstructor(checkpoint: str | os.PathLike, device: str | torch.device = "cpu"):
    """A reconstruction-type zoo model as an image function: uint8 H×W×C in, uint8 H×W×C out.

    Works for models with a ``reconstruct(images)`` method (``ognet``'s G, ``ganomaly``, ``fanogan``) and
    for the ``reconstruction`` family, whose forward pass is the reconstruction (``ae``, ``vae``). The
    image is resized to the model's resolution (area interpolation), converted to its channel count,
    reconstructed, and brought back to the input's size and channels. The synth ``ognet`` generator
    takes the result as its ``reconstructor``, and this function itself as its ``checkpoint_loader``
    (a recipe naming a ``checkpoint``): the zoo turns checkpoints into functions, synth never imports it.

    Args:
        checkpoint: a ``model.pt`` written by the trainer.
        device: where to run the model.

    Returns:
        ``fn(image) -> image`` (H×W or H×W×C uint8, the shape kept).

    Raises:
        ConfigError: the checkpoint's model does not reconstruct images.

    Example:
        >>> g = load_reconstructor("runs/ae/model.pt")  # doctest: +SKIP
        >>> g(image).shape == image.shape  # doctest: +SKIP
        True
    """
    import cv2
    import numpy as np

    model = load_model(checkpoint, device)
    if hasattr(model, "reconstruct"):
        rec_fn = model.reconstruct
    elif getattr(model, "family", "") == "reconstruction":

        def rec_fn(x: torch.Tensor) -> torch.Tensor:
            out = model(x)
            return out[0] if isinstance(out, (tuple, list)) else out

    else:
        raise ConfigError(
            f"{checkpoint}: model {type(model).name!r} does not reconstruct images "
            "(use an ae, vae, ognet, ganomaly or fanogan checkpoint)"
        )
    size, channels = model.image_size, model.channels
    dev = next(model.parameters()).device

    @torch.no_grad()
    def reconstruct(image: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        h, w = img.shape[:2]
        c_in = 1 if img.ndim == 2 else img.shape[2]
        x = img if img.ndim == 3 else img[:, :, None]
        if (h, w) != (size, size):
            x = cv2.resize(x, (size, size), interpolation=cv2.INTER_AREA).reshape(size, size, c_in)
        if c_in != channels:
            x = x.mean(axis=2, keepdims=True) if channels == 1 else np.repeat(x[:, :, :1], 3, axis=2)
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
        out = rec_fn(t.to(dev)).float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
        out = np.round(out * 255.0).astype(np.uint8)
        if (h, w) != (size, size):
            out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, channels)
        if channels != c_in:
            out = (
                out.mean(axis=2, keepdims=True).round().astype(np.uint8)
                if c_in == 1
                else np.repeat(out, 3, 2)
            )
        return out if img.ndim == 3 else out[:, :, 0]

    return reconstruct

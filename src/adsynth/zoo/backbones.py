"""Feature-extractor backbones for the zoo: timm models with weights from local sources only.

Every backbone is ``timm.create_model(name, features_only=True, out_indices=...)`` wrapped in
:class:`Backbone`, which takes images in [0, 1] (1 or 3 channels), replicates grayscale to RGB and applies
the normalisation the weights were trained with (:func:`normalization`). Weights come, in this order, from

1. ``backbone_from``: the backbone of a trained zoo checkpoint (e.g. a CutPaste model trained on the
   user's own images, a self-supervised alternative to ImageNet weights);
2. ``weights``: a state_dict file (``torch.save`` output or ``.safetensors``) for the timm model (an
   explicit file always wins; files in a bundled package's own key format are renamed);
3. ``pretrained=True``: the **bundled** weights of the architecture when their package is installed
   (:mod:`adsynth.zoo.bundled_weights`: ImageNet EfficientNet-Lite0 comes with adsynth), else timm's
   weights **if already in the local cache** (Hugging Face hub cache or the torch hub ``checkpoints``
   folder). adsynth never downloads at run time: with neither this fails at once with a
   :class:`~adsynth.errors.WeightsError` that says how to supply weights;
4. otherwise random initialisation.

Example:
    >>> import torch
    >>> bb = create_backbone("resnet18", out_indices=(2, 3), pretrained=False)
    >>> bb.feature_info.channels(), bb.feature_info.reduction()
    ([128, 256], [8, 16])
    >>> [f.shape[1] for f in bb(torch.rand(1, 1, 64, 64))]
    [128, 256]
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
import torch
from torch import nn

from adsynth.errors import ConfigError, WeightsError
from adsynth.zoo.bundled_weights import BUNDLED, DEFAULT_BACKBONE, hf_cache_dir
from adsynth.zoo.torchfile import load_tensors

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Prefix of the backbone's timm module inside a zoo model's state_dict (``<attr>.body.``).
BODY_PREFIX = "body."

HOW_TO_SUPPLY = (
    "adsynth never downloads weights at run time; use a bundled ImageNet backbone (`--backbone "
    f"{DEFAULT_BACKBONE}`; `adsynth backbones` lists them), supply weights with `--weights PATH` "
    "(a state_dict or .safetensors file for this timm model), use `--no-pretrained` (random init), or "
    "`--backbone-from runs/cutpaste/model.pt` (the backbone of a CutPaste model trained on your images). "
    "To fill the local cache once on a machine with internet: "
    "python -c \"import timm; timm.create_model('{name}', pretrained=True)\""
)


class CarriesBackboneWeights:
    """Mixin for zoo models whose state_dict carries their backbone's weights.

    A model rebuilt from its ``config()`` must then not look for the weights again (the file or cache may
    be absent where the checkpoint is used), so the config asks for none and keeps their provenance in
    ``weights_source``. It goes before the base class: ``class M(CarriesBackboneWeights, AnomalyModel)``.
    """

    weights_source: str | None

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),  # type: ignore[misc]
            "pretrained": False,
            "weights": None,
            "backbone_from": None,
            "weights_source": self.weights_source,
        }


class Backbone(nn.Module):
    """A timm ``features_only`` model taking images in [0, 1].

    Args:
        body: the timm feature model (has ``feature_info``).
        in_chans: input channels of ``body``; 1-channel images are replicated when it expects 3.
        weights_source: where the weights came from (for logs and checkpoint configs).
        mean, std: RGB input normalisation (of images in [0, 1]).

    Attributes:
        feature_info: timm's ``FeatureInfo`` (``.channels()``, ``.reduction()``).
    """

    def __init__(
        self,
        body: nn.Module,
        in_chans: int = 3,
        weights_source: str = "random-init",
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.body = body
        self.in_chans = int(in_chans)
        self.weights_source = weights_source
        mean = torch.tensor(tuple(mean) if in_chans == 3 else (sum(mean) / 3,) * in_chans)
        std = torch.tensor(tuple(std) if in_chans == 3 else (sum(std) / 3,) * in_chans)
        # Non-persistent: constants, not state; checkpoints stay loadable if the normalisation is revised.
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)

    @property
    def feature_info(self):
        return self.body.feature_info

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images (1 or ``in_chans`` channels) → normalised network input."""
        if images.shape[1] == 1 and self.in_chans == 3:
            images = images.expand(-1, 3, -1, -1)
        if images.shape[1] != self.in_chans:
            raise ValueError(f"expected images with 1 or {self.in_chans} channels, got {images.shape[1]}")
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(self.normalize(images)))


def create_backbone(
    name: str,
    out_indices: Sequence[int],
    pretrained: bool = False,
    weights: str | os.PathLike | None = None,
    in_chans: int = 3,
    backbone_from: str | os.PathLike | None = None,
) -> Backbone:
    """Build a timm feature extractor and load its weights from local sources only.

    Args:
        name: a timm model name, optionally with a weights tag (``"wide_resnet50_2.tv_in1k"``).
        out_indices: feature levels to return (for ResNets 1..4 = layer1..layer4).
        pretrained: load timm's weights from the local cache (never downloads).
        weights: a state_dict file for the timm model (``.pt``/``.pth``/``.bin`` or ``.safetensors``);
            takes precedence over ``pretrained``.
        in_chans: network input channels (keep 3 for ImageNet weights; grayscale is replicated).
        backbone_from: a zoo checkpoint whose ``backbone`` sub-module provides the weights.

    Returns:
        A :class:`Backbone`; ``.weights_source`` says where the weights came from.

    Raises:
        ConfigError: unknown model name or conflicting options.
        WeightsError: weights asked for but missing or not matching the model.
    """
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=4, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown timm backbone {name!r}{hint}")
    if weights is not None and backbone_from is not None:
        raise ConfigError("give either `weights` or `backbone_from`, not both")
    # Read the weights before building the network so that a missing file fails at once.
    state: dict[str, torch.Tensor] | None = None
    bundled = None
    source = "random-init"
    if backbone_from is not None:
        state = checkpoint_backbone_state(backbone_from)
        source = f"checkpoint:{backbone_from}"
    elif weights is not None:
        state = read_state_dict(weights)
        source = f"file:{weights}"
    elif pretrained:
        entry = BUNDLED.get(name)
        if entry is not None and entry.path() is not None:
            bundled = entry
            source = f"bundled:{entry.package}"
        else:
            path = find_cached_weights(name)
            if path is None:
                hint = f"install its bundled weights with `{entry.install_hint()}`, or " if entry else ""
                raise WeightsError(
                    f"pretrained weights for backbone {name!r} are not installed and not in the local "
                    f"cache (looked in {hf_cache_dir()} and {Path(torch.hub.get_dir()) / 'checkpoints'}); "
                    + hint
                    + HOW_TO_SUPPLY.format(name=name)
                )
            state = read_state_dict(path)
            source = f"cache:{path}"
    body = timm.create_model(
        name, features_only=True, out_indices=tuple(out_indices), pretrained=False, in_chans=in_chans
    )
    if bundled is not None:
        state = bundled.load(_stage_depths(body))
    elif state is not None and name in BUNDLED and "_conv_stem.weight" in state:
        # A bundled package's file passed as --weights: same renaming as the catalogue's.
        state = BUNDLED[name].key_map(state, _stage_depths(body))
    if state is not None:
        _load_matching(
            body,
            state,
            source.split(":", 1)[1]
            if backbone_from is None
            else f"the backbone of checkpoint {backbone_from}",
        )
    mean, std = normalization(name)
    return Backbone(body, in_chans=in_chans, weights_source=source, mean=mean, std=std)


def _stage_depths(body: nn.Module) -> list[int]:
    return [len(stage) for stage in getattr(body, "blocks", ())]


def normalization(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """RGB mean and std of the input normalisation for backbone ``name``: the bundled weights' own, else
    timm's pretrained config for the name, else ImageNet's.

    A function of the name only, so a model rebuilt from its checkpoint normalises as it did in training.

    Example:
        >>> normalization("resnet18")[0]
        (0.485, 0.456, 0.406)
    """
    if name in BUNDLED:
        return BUNDLED[name].mean, BUNDLED[name].std
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(name)
    except (RuntimeError, ValueError):
        cfg = None
    if cfg is not None and cfg.mean and len(cfg.mean) == 3 and cfg.std and len(cfg.std) == 3:
        return tuple(cfg.mean), tuple(cfg.std)
    return IMAGENET_MEAN, IMAGENET_STD


def find_cached_weights(name: str) -> Path | None:
    """Path of timm's pretrained weights for ``name`` if present locally, else None (no network access).

    Looks in the Hugging Face hub cache (``timm/<model>.<tag>`` repos, as ``timm.create_model`` stores them)
    and in the torch hub ``checkpoints`` folder (timm's legacy URL downloads).
    """
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.file and Path(cfg.file).is_file():
        return Path(cfg.file)
    if cfg.hf_hub_id:
        repo_id, _, revision = cfg.hf_hub_id.partition("@")
        filenames = (
            [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
        )
        for filename in filenames:
            found = try_to_load_from_cache(
                repo_id, filename, cache_dir=hf_cache_dir(), revision=revision or None
            )
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    if cfg.url:
        local = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if local.is_file():
            return local
    return None


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state_dict from a torch file (``weights_only``) or a ``.safetensors`` file.

    A dict wrapping the weights under ``"state_dict"`` is unwrapped; a zoo checkpoint is refused with a
    hint to use ``backbone_from``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"weights file {str(path)!r} does not exist. " + HOW_TO_SUPPLY.format(name="<model>")
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            obj = load_tensors(path, WeightsError, "a weights file")
    except ImportError:
        raise WeightsError(
            f"{str(path)!r} is a .safetensors file but the `safetensors` package is not "
            "installed; install it or convert the file with torch.save"
        ) from None
    except WeightsError:
        raise
    except Exception as exc:  # safetensors raises several types for unreadable files
        raise WeightsError(f"cannot read weights file {str(path)!r}: {str(exc).splitlines()[0]}") from None
    if isinstance(obj, Mapping) and {"model", "config", "state_dict"} <= set(obj):
        raise WeightsError(
            f"{str(path)!r} is an adsynth checkpoint, not a weights file; "
            "pass it as `--backbone-from` to reuse its backbone"
        )
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{str(path)!r} does not hold a state_dict (a mapping of names to tensors)")
    # Weights saved from DataParallel/DDP carry a "module." prefix.
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _read_checkpoint(path: str | os.PathLike) -> Mapping[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {str(path)!r} (backbone_from) does not exist")
    ckpt = load_tensors(path, WeightsError, "an adsynth checkpoint (backbone_from)")
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("state_dict"), Mapping):
        raise WeightsError(f"{str(path)!r} is not an adsynth checkpoint (no 'state_dict' entry)")
    return ckpt


def checkpoint_backbone_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The timm-module weights of the ``backbone`` sub-module of a zoo checkpoint.

    The checkpoint is a dict with ``"model"`` (registry name), ``"config"`` and ``"state_dict"``; the
    backbone's timm module lives under ``backbone.body.`` (see :class:`Backbone`).
    """
    ckpt = _read_checkpoint(path)
    prefix = "backbone." + BODY_PREFIX
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    if not state:
        raise WeightsError(
            f"checkpoint {str(path)!r} (model {ckpt.get('model')!r}) has no backbone weights "
            f"(no '{prefix}*' keys); train a CutPaste model first"
        )
    return state


def checkpoint_backbone_name(path: str | os.PathLike) -> str | None:
    """The ``backbone`` hyper-parameter recorded in a zoo checkpoint's config (None if absent)."""
    config = _read_checkpoint(path).get("config")
    return config.get("backbone") if isinstance(config, Mapping) else None


def _load_matching(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Load every tensor ``module`` needs from ``state``; extra entries (classifier, deeper layers) are
    ignored.

    Raises WeightsError naming ``source`` and a few keys when tensors are missing or have other shapes.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    wrong = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches (e.g. {'; '.join(wrong[:3])})")
        have = ", ".join(list(state)[:3]) or "nothing"
        raise WeightsError(
            f"weights from {source} do not fit the backbone: {' and '.join(parts)}; the file has {have}, ..."
        )
    module.load_state_dict({k: state[k] for k in own if k in state}, strict=False)


# ---------------------------------------------------------------------------- helpers of embedding methods
def resize_lazy_buffers(
    module: nn.Module, state_dict: Mapping[str, torch.Tensor], prefix: str, names: Sequence[str]
) -> None:
    """Give ``module``'s buffers ``names`` the shapes they have in ``state_dict`` before it is loaded.

    Fitted statistics (memory banks, Gaussians) are sized by the data; a model freshly built from its config
    holds empty placeholders. Call from ``_load_from_state_dict``.
    """
    for name in names:
        incoming = state_dict.get(prefix + name)
        current = module._buffers.get(name)
        if incoming is not None and current is not None and incoming.shape != current.shape:
            module._buffers[name] = torch.empty(incoming.shape, dtype=current.dtype, device=current.device)


def resolve_backbone_name(backbone: str | None, backbone_from: str | os.PathLike | None, default: str) -> str:
    """The backbone architecture to build: explicit ``backbone``, else the one recorded in ``backbone_from``'s
    config, else ``default``. A conflict between the two raises ConfigError."""
    from_ckpt = checkpoint_backbone_name(backbone_from) if backbone_from is not None else None
    if backbone is not None and from_ckpt is not None and backbone != from_ckpt:
        raise ConfigError(
            f"backbone {backbone!r} differs from the {from_ckpt!r} of checkpoint {backbone_from}"
        )
    return backbone or from_ckpt or ("resnet18" if backbone_from is not None else default)

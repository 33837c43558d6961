"""The one declaration of the backbone options: :class:`BackboneModel`, the base of every zoo model built on
a timm backbone (the fit-only :class:`~adsynth.zoo.components.features.FeatureModel`, the gradient-trained
:class:`~adsynth.zoo.components.distillation.FrozenBackboneModel`, and models that train their trunk, such
as CutPaste, FCDD and the local SSL learners).

A subclass declares only its own hyper-parameters and passes the rest on::

    def __init__(self, image_size=256, channels=3, sigma=4.0, **backbone_options):
        super().__init__(image_size, channels, sigma=check_range(sigma, 0, 1e3, "sigma"), **backbone_options)

The registry's parameter check follows ``**backbone_options`` here, so a new backbone option is a change
of this file. What differs between families is data, in class attributes: ``default_layers``,
``default_pretrained``, ``default_backbone`` / ``scratch_backbone``, whether ``layers`` is an option at
all (``layers_option``), whether the backbone is frozen (``frozen_backbone``) and whether the model can
cache the features of its training images (``caches_features``). :meth:`BackboneModel.declared_params`
gives the registry those per-family defaults.

Example:
    >>> from adsynth.zoo.components.backbone_model import BackboneModel
    >>> class Probe(BackboneModel):
    ...     default_layers = (2, 3)
    >>> m = Probe(image_size=64, backbone="resnet18", pretrained=False)
    >>> m.config()["layers"], m.level_channels
    ([2, 3], [128, 256])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from adsynth._validation import check_positive_int
from adsynth.errors import ConfigError
from adsynth.zoo.backbones import (
    CarriesBackboneWeights,
    create_backbone,
    resize_lazy_buffers,
    resolve_backbone_name,
)
from adsynth.zoo.base import AnomalyModel
from adsynth.zoo.bundled_weights import DEFAULT_BACKBONE

#: The options declared by :class:`BackboneModel` whose default a family sets by a class attribute.
_FAMILY_DEFAULTS = {"layers": "default_layers", "pretrained": "default_pretrained"}


class BackboneModel(CarriesBackboneWeights, AnomalyModel):
    """An :class:`~adsynth.zoo.base.AnomalyModel` that owns a timm backbone ``self.backbone``.

    Args:
        image_size, channels: as :class:`~adsynth.zoo.base.AnomalyModel`.
        backbone: timm name (None: ``default_backbone``, the bundled ImageNet ``tf_efficientnet_lite0``,
            or ``scratch_backbone`` when not pretrained); with ``backbone_from``, the checkpoint's
            architecture.
        layers: feature levels (None: the class's ``default_layers``; Lite0 levels 1, 2, 3, 4 have
            strides 4, 8, 16, 32 like ResNet's layer1-4). Not an option where ``layers_option`` is False.
        pretrained / weights / backbone_from: where the weights come from
            (:func:`~adsynth.zoo.backbones.create_backbone`); ``pretrained`` None: ``default_pretrained``.
        weights_source: recorded in checkpoints (set when a model is rebuilt from one).
        cache_features: keep the backbone's features of each training image (by the batch's ``index``)
            and reuse them in later epochs instead of recomputing them; an option only of the models with
            ``caches_features`` (off by default: a resumed epoch then equals an uninterrupted one only
            up to rounding).
        **hparams: the subclass's own hyper-parameters (stored by :meth:`config`, after the backbone's).
    """

    #: Architecture built when no ``backbone`` is given.
    default_backbone: ClassVar[str] = DEFAULT_BACKBONE
    #: Architecture built when no ``backbone`` is given and ``pretrained`` is off (None: the default).
    scratch_backbone: ClassVar[str | None] = None
    default_layers: ClassVar[tuple[int, ...]] = (1, 2, 3)
    #: False: the model always taps ``default_layers`` (no ``layers`` option, none in its config).
    layers_option: ClassVar[bool] = True
    default_pretrained: ClassVar[bool] = True
    #: True: the backbone's parameters never train (``requires_grad`` off).
    frozen_backbone: ClassVar[bool] = False
    #: Capability: the model takes ``cache_features`` (features of training images reused across epochs).
    caches_features: ClassVar[bool] = False
    #: Fitted buffers whose shape depends on the data (resized from a loaded state_dict).
    lazy_buffers: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        image_size: int = 256,
        channels: int = 3,
        *,
        backbone: str | None = None,
        layers: Sequence[int] | None = None,
        pretrained: bool | None = None,
        weights: str | None = None,
        backbone_from: str | None = None,
        weights_source: str | None = None,
        cache_features: bool | None = None,
        **hparams: Any,
    ) -> None:
        if layers is not None and not self.layers_option:
            raise ConfigError(f"{self.name or type(self).__name__} has no option `layers`")
        pretrained = self.default_pretrained if pretrained is None else bool(pretrained)
        default = self.default_backbone if pretrained else (self.scratch_backbone or self.default_backbone)
        name = resolve_backbone_name(backbone, backbone_from, default)
        levels = [
            check_positive_int(v, "layers[]") for v in (self.default_layers if layers is None else layers)
        ]
        module = create_backbone(
            name, levels, pretrained=pretrained, weights=weights, backbone_from=backbone_from
        )
        options: dict[str, Any] = {"backbone": name}
        if self.layers_option:
            options["layers"] = levels
        options.update(pretrained=pretrained, weights=weights, backbone_from=backbone_from)
        if self.caches_features or cache_features is not None:
            options["cache_features"] = bool(cache_features)
        hparams = self.derive_hparams(list(module.feature_info.channels()), levels, hparams)
        super().__init__(image_size, channels, **options, **hparams)
        self.backbone = module
        if self.frozen_backbone:
            self.backbone.requires_grad_(False)
        self.weights_source = weights_source or module.weights_source

    @classmethod
    def declared_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The registry's listing of ``cls``'s keywords: the family's defaults filled in, and the options it
        does not take (``layers`` without ``layers_option``, ``cache_features`` without ``caches_features``)
        left out. A keyword that a subclass declares itself (a default other than None) is kept."""
        out = {}
        for key, value in params.items():
            if value is None and key == "layers" and not cls.layers_option:
                continue
            if value is None and key == "cache_features" and not cls.caches_features:
                continue
            if value is None and key in _FAMILY_DEFAULTS:
                value = getattr(cls, _FAMILY_DEFAULTS[key])
            elif value is None and key == "cache_features":
                value = False
            out[key] = value
        return out

    def derive_hparams(self, channels: list[int], layers: list[int], hparams: dict[str, Any]) -> dict:
        """Hook: complete or check hyper-parameters that depend on the backbone's level ``channels``
        (e.g. a default dimension); runs before the module is initialised, so it must not set attributes."""
        return hparams

    @property
    def reuses_train_features(self) -> bool:
        return bool(self._hparams.get("cache_features"))

    @property
    def level_channels(self) -> list[int]:
        """Channels of each of the backbone's feature levels."""
        return list(self.backbone.feature_info.channels())

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        resize_lazy_buffers(self, state_dict, prefix, self.lazy_buffers)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

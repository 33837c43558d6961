"""DRAEM (Zavrtanik, Kristan, Skočaj, ICCV 2021): a reconstructive and a discriminative U-Net.

The reconstructive sub-network (an encoder-decoder without skip connections) is trained to remove
synthetic anomalies; the discriminative sub-network (a U-Net with skips) sees the input next to its
reconstruction and segments the anomalous pixels. Both are trained jointly on online pseudo-anomalies
(recipe ``draem``: Perlin-noise regions filled with a blended texture).

The networks, the loss and the training/inference code are :mod:`adsynth.zoo.components.draem`, shared
with the ``draem-sspcab`` variant; this module registers the plain method.
"""

from __future__ import annotations

from adsynth.zoo.base import register_model
from adsynth.zoo.components.draem import DraemModel


@register_model("draem")
class Draem(DraemModel):
    """DRAEM as published: the shared builder with its own defaults (the hyper-parameters are those of
    :class:`~adsynth.zoo.components.draem.DraemModel`).

    Example:
        >>> import torch
        >>> m = Draem(image_size=64, base_width=8).eval()
        >>> p = m.predict(torch.rand(1, 3, 64, 64))
        >>> p.anomaly_map.shape, p.score.shape
        (torch.Size([1, 64, 64]), torch.Size([1]))
    """

"""SimCLR (Chen et al., ICML 2020) as a local contrastive feature learner for anomaly detection.

The shared builder (:class:`adsynth.zoo.components.contrastive.LocalSSLModel`) supplies the trunk, the two
views (the normal image, and the synth recipe's output) and the grid cells; SimCLR adds the symmetric
InfoNCE (NT-Xent, temperature 0.1) over the L2-normalised projections of the sampled cells of a batch: a
cell's positive is the same cell in the other view, every other cell is a negative, and the cells of B that
the synthetic defect covers are negatives only (they have no clean counterpart), so the trunk is pushed to
tell a defect from the surface it replaced. SGD with momentum 0.9, weight decay 1e-6 and a cosine schedule
(the paper uses LARS at batch 4096, which a CPU batch does not need).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from adsynth.errors import ConfigError
from adsynth.zoo.base import register_model
from adsynth.zoo.components.contrastive import LocalSSLModel, info_nce


@register_model("simclr")
class SimCLR(LocalSSLModel):
    """Local SimCLR on the bundled EfficientNet-Lite0 architecture (see :class:`LocalSSLModel` for the
    arguments, plus ``temperature``); ``--backbone-from`` its checkpoint gives PaDiM or PatchCore the
    learnt trunk.

    Example:
        >>> m = SimCLR(image_size=64, backbone="resnet18", bank_size=64).eval()
        >>> m.fit_batch({"image": torch.rand(2, 3, 64, 64)}); m.fit_end()
        >>> m.predict(torch.rand(1, 3, 64, 64)).anomaly_map.shape
        torch.Size([1, 64, 64])
    """

    paper = "Chen et al., A Simple Framework for Contrastive Learning, ICML 2020 (local, on normal images)"

    def __init__(self, *args, temperature: float = 0.1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not 0 < float(temperature) <= 10:
            raise ConfigError(f"expected `temperature` in (0, 10], got {temperature!r}")
        self._hparams["temperature"] = float(temperature)

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        opt = torch.optim.SGD(self.parameters(), lr=lr or self.default_lr, momentum=0.9, weight_decay=1e-6)
        t_max = max(1, int(epochs or self.default_epochs))
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max)

    def ssl_loss(self, feats_a, feats_b, valid):
        za = F.normalize(self._project(feats_a), dim=1)
        zb = F.normalize(self._project(feats_b), dim=1)
        t = self._hparams["temperature"]
        loss = 0.5 * (info_nce(za, zb, valid, t) + info_nce(zb, za, valid, t))
        return {"loss": loss}

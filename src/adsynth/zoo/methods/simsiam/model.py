"""SimSiam (Chen & He, CVPR 2021) as a local feature learner for anomaly detection.

The shared builder (:class:`adsynth.zoo.components.contrastive.LocalSSLModel`) supplies the trunk, the two
views (the normal image, and the synth recipe's output) and the grid cells; SimSiam adds a predictor
(1×1 MLP with a bottleneck, as the paper's 2048 → 512 → 2048, here ``proj_dim`` → ``proj_dim / 2`` →
``proj_dim``) and the symmetric negative cosine with stop-gradient, on the cells that the synthetic defect
leaves clean: the trunk learns features of the user's surface that are stable under brightness, contrast and
a nearby defect. SGD lr 0.05·batch/256, momentum 0.9, weight decay 1e-4, cosine schedule (the paper's).
"""

from __future__ import annotations

import torch
from torch import nn

from adsynth.zoo.base import register_model
from adsynth.zoo.components.contrastive import LocalSSLModel, simsiam_loss


@register_model("simsiam")
class SimSiam(LocalSSLModel):
    """Local SimSiam on the bundled EfficientNet-Lite0 architecture (see :class:`LocalSSLModel` for the
    arguments); ``--backbone-from`` its checkpoint gives PaDiM or PatchCore the learnt trunk.

    Example:
        >>> m = SimSiam(image_size=64, backbone="resnet18", bank_size=64).eval()
        >>> m.fit_batch({"image": torch.rand(2, 3, 64, 64)}); m.fit_end()
        >>> m.predict(torch.rand(1, 3, 64, 64)).anomaly_map.shape
        torch.Size([1, 64, 64])
    """

    paper = "Chen & He, Exploring Simple Siamese Representation Learning, CVPR 2021 (local, on normal images)"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        d = self._hparams["proj_dim"]
        self.predictor = nn.Sequential(
            nn.Linear(d, max(1, d // 2), bias=False),
            nn.BatchNorm1d(max(1, d // 2)),
            nn.ReLU(inplace=True),
            nn.Linear(max(1, d // 2), d),
        )

    def configure_optimizers(self, lr: float | None = None, epochs: int | None = None):
        opt = torch.optim.SGD(self.parameters(), lr=lr or self.default_lr, momentum=0.9, weight_decay=1e-4)
        t_max = max(1, int(epochs or self.default_epochs))
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=t_max)

    def ssl_loss(self, feats_a, feats_b, valid):
        za, zb = self._project(feats_a), self._project(feats_b)
        pa, pb = self.predictor(za), self.predictor(zb)
        loss = 0.5 * (simsiam_loss(pa, zb, valid) + simsiam_loss(pb, za, valid))
        return {"loss": loss, "z_std": torch.nn.functional.normalize(za, dim=1).std(0).mean().detach()}

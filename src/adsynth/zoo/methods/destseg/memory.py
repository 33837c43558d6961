"""A memory of normal teacher features for DeSTSeg's segmentation head (adsynth's option, not the paper's).

PatchCore finds magnetic tile's broad `uneven` regions by the distance of each position's features to the
nearest normal one; DeSTSeg's head sees only where the student and the teacher disagree. With
``memory=M`` the head also reads, per level, the cosine distance of the teacher's feature at each position
to its nearest neighbour among ``M`` normal positions (sampled from the normal training images in row
order with a fixed generator), standardised by the distances of other normal positions of the same
images. Like the residual features of PRN (Zhang et al., CVPR 2023), the head then learns from the
synthetic (and real) defects how to weigh a normal memory against the student.

Example:
    >>> mem = NormalMemory([4, 8], size=16)
    >>> feats = [torch.rand(3, 4, 8, 8), torch.rand(3, 8, 4, 4)]
    >>> mem.build(lambda x: x, [feats], n_images=3)
    >>> [d.shape for d in mem.distances(feats)]
    [torch.Size([3, 1, 8, 8]), torch.Size([3, 1, 4, 4])]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

#: queries per nearest-neighbour matrix product (bounds the memory of one product)
_CHUNK = 4096


def _flat(f: torch.Tensor, aggregate: int) -> torch.Tensor:
    """B×C×h×w → B×(h·w)×C: averaged over ``aggregate``² neighbours (PatchCore's local aggregation),
    L2-normalised over the channels."""
    f = f.float()
    if aggregate > 1:
        f = F.avg_pool2d(f, aggregate, 1, aggregate // 2, count_include_pad=False)
    return F.normalize(f, dim=1).flatten(2).transpose(1, 2)


class NormalMemory(nn.Module):
    """``size`` normal positions per level and the statistics that standardise their distances.

    Args:
        channels: the teacher's channels per level.
        size: positions kept per level.
        aggregate: each position's feature is the mean over its ``aggregate``² neighbours (odd; 1: none).
    """

    def __init__(self, channels: Sequence[int], size: int, aggregate: int = 3) -> None:
        super().__init__()
        self.size, self.aggregate = int(size), int(aggregate)
        for i, c in enumerate(channels):
            self.register_buffer(f"bank{i}", torch.zeros(self.size, int(c)))
        self.register_buffer("mean", torch.zeros(len(channels)))
        self.register_buffer("std", torch.ones(len(channels)))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))
        self.levels = len(channels)

    @torch.no_grad()
    def build(
        self,
        features: Callable[[torch.Tensor], list[torch.Tensor]],
        batches: Iterable[torch.Tensor],
        n_images: int,
    ) -> None:
        """Fill the banks from ``features`` of the image ``batches`` (``n_images`` in all, in a fixed
        order): from each image a few random positions per level go to the bank and as many others to the
        standardisation."""
        gen = torch.Generator().manual_seed(0)
        keep: list[list[torch.Tensor]] = [[] for _ in range(self.levels)]
        held: list[list[torch.Tensor]] = [[] for _ in range(self.levels)]
        for images in batches:
            for i, f in enumerate(features(images)):
                flat = _flat(f, self.aggregate).cpu()
                per = min(flat.shape[1], max(1, math.ceil(self.size / n_images)))
                for row in flat:
                    order = torch.randperm(row.shape[0], generator=gen)
                    keep[i].append(row[order[:per]])
                    held[i].append(row[order[per : 2 * per]])
        device = self.mean.device
        for i in range(self.levels):
            pool = torch.cat(keep[i])
            pick = torch.randperm(pool.shape[0], generator=gen)[: self.size]
            bank = pool[pick]
            if bank.shape[0] < self.size:  # fewer positions than asked: repeat (the nearest one is the same)
                bank = bank[torch.arange(self.size) % bank.shape[0]]
            getattr(self, f"bank{i}").copy_(bank.to(device))
            rest = torch.cat(held[i])
            rest = rest if rest.numel() else pool  # one position per image: all went to the bank
            d = self._nearest(rest.to(device), getattr(self, f"bank{i}"))
            self.mean[i] = d.mean()
            self.std[i] = d.std().clamp_min(1e-6) if d.numel() > 1 else 1.0
        self.ready.fill_(True)

    @staticmethod
    def _nearest(queries: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
        """1 − the cosine similarity of each (normalised) query to its nearest bank entry."""
        out = [
            1.0 - (queries[s : s + _CHUNK] @ bank.T).max(dim=1).values
            for s in range(0, queries.shape[0], _CHUNK)
        ]
        return torch.cat(out) if out else queries.new_zeros(0)

    def distances(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per level, B×1×h×w standardised nearest-normal distances of ``features``."""
        out = []
        for i, f in enumerate(features):
            b, _, h, w = f.shape
            d = self._nearest(_flat(f, self.aggregate).reshape(b * h * w, -1), getattr(self, f"bank{i}"))
            out.append(((d - self.mean[i]) / self.std[i]).reshape(b, 1, h, w))
        return out

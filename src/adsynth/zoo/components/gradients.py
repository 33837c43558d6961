"""Gradient representations (GradCon): the cosine gradient constraint, its running reference and
per-sample gradients.

GradCon (Kwon et al., ECCV 2020) keeps, for each constrained layer, the running average of the
training gradients of that layer's weight (:class:`RunningGradients`, buffers: saved in checkpoints)
and penalises the cosine similarity between the current gradient and that average
(:func:`gradient_constraint_loss`). At test time the same term, computed from one sample's gradient
(:func:`per_sample_gradients`, batched with ``torch.func``), enters the image score.

Example:
    >>> import torch
    >>> g = [torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])]
    >>> ref = [torch.tensor([1.0, 1.0]), torch.tensor([0.0, 1.0])]
    >>> round(float(gradient_constraint_loss(g, ref)), 4)  # -(cos 45° + cos 0°) / 2
    -0.8536
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["RunningGradients", "gradient_constraint_loss", "per_sample_gradients"]


def gradient_constraint_loss(grads: Sequence[torch.Tensor], refs: Sequence[torch.Tensor]) -> torch.Tensor:
    """``−mean_l cos(grads[l], refs[l])`` over the layers, each tensor flattened from dimension
    ``start`` = ``grads[l].ndim − refs[l].ndim`` on (so a leading batch dimension gives one value per
    sample).

    Args:
        grads: one gradient per layer, the weight's shape, or B × the weight's shape.
        refs: the reference (average) gradient per layer, the weight's shape.

    Returns:
        A scalar, or B values when the gradients carry a batch dimension.
    """
    if len(grads) != len(refs) or not grads:
        raise ValueError(f"expected one reference per gradient, got {len(grads)} and {len(refs)}")
    total = 0.0
    for g, r in zip(grads, refs, strict=True):
        start = g.ndim - r.ndim
        g = g.flatten(start)
        r = r.flatten().to(g.dtype).expand_as(g)
        total = total + F.cosine_similarity(g, r, dim=-1)
    return -total / len(grads)


class RunningGradients(nn.Module):
    """The running mean of the gradients of some parameters, updated each time a gradient is
    accumulated into their ``.grad`` while ``active()`` is true (a post-accumulate-grad hook: the
    gradient of the whole loss, as GradCon reads ``weight.grad`` after ``backward``).

    The means and counts are buffers, so checkpoints hold them and a resumed run continues exactly.
    Non-finite gradients (a skipped mixed-precision step) are not averaged.

    Args:
        params: the parameters to follow (e.g. the decoder's weights).
        active: called at each accumulation; the mean is updated only when it returns true (the owning
            model passes ``lambda: self.training``).
    """

    def __init__(self, params: Sequence[nn.Parameter], active: Callable[[], bool]) -> None:
        super().__init__()
        self.n = len(params)
        for i, p in enumerate(params):
            self.register_buffer(f"mean{i}", torch.zeros_like(p, memory_format=torch.contiguous_format))
        self.register_buffer("count", torch.zeros(self.n, dtype=torch.long))
        self._active = active
        for i, p in enumerate(params):
            p.register_post_accumulate_grad_hook(self._hook(i))

    def _hook(self, i: int) -> Callable[[torch.Tensor], None]:
        def update(param: torch.Tensor) -> None:
            if self._active() and param.grad is not None:
                self.update(i, param.grad)

        return update

    @torch.no_grad()
    def update(self, i: int, grad: torch.Tensor) -> None:
        """Fold ``grad`` into layer ``i``'s mean (``mean += (grad − mean) / count``)."""
        grad = grad.detach().float()
        if not bool(torch.isfinite(grad).all()):
            return
        self.count[i] += 1
        mean = self.means()[i]
        mean.add_((grad.to(mean.dtype) - mean) / self.count[i].to(mean.dtype))

    def means(self) -> list[torch.Tensor]:
        """The current mean gradient of each parameter."""
        return [getattr(self, f"mean{i}") for i in range(self.n)]

    def ready(self) -> bool:
        """True once every parameter has at least one gradient in its mean."""
        return bool(self.count.min() > 0)


def per_sample_gradients(
    loss_fn: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor],
    params: dict[str, torch.Tensor],
    inputs: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Gradients of ``loss_fn(params, x)`` with respect to ``params`` for every sample ``x`` of
    ``inputs`` (each given as a batch of one), batched with ``torch.func.vmap``.

    Args:
        loss_fn: ``(params, x[None]) -> scalar``, typically through ``torch.func.functional_call``.
        params: name → tensor, the parameters to differentiate.
        inputs: B×… samples.

    Returns:
        name → B × the parameter's shape.
    """
    from torch.func import grad, vmap

    def one(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return loss_fn(p, x.unsqueeze(0))

    return vmap(grad(one), in_dims=(None, 0))(params, inputs)

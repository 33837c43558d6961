"""Module modes: :func:`eval_mode`, a block run with a module in eval mode and its mode restored after.

Example:
    >>> from torch import nn
    >>> net = nn.Dropout().train()
    >>> with eval_mode(net):
    ...     net.training
    False
    >>> net.training
    True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Run the block with ``module.eval()`` (BatchNorm running statistics, no dropout), then give it back
    the mode it had, also when the block raises."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)

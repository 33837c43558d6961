"""The parts of the generic trainer (:mod:`adsynth.zoo.trainer` is the entry point).

* :mod:`~adsynth.zoo.training.config`: :class:`TrainConfig` (checked when built), the model's defaults
  (filled by ``is None``), the seed hyper-parameter, resume rules;
* :mod:`~adsynth.zoo.training.loop`: :class:`RunState` (one object per run), the gradient loop and the
  fitting pass, and the checkpoints they write;
* :mod:`~adsynth.zoo.training.optimizers`: what ``configure_optimizers`` returns, in one shape;
* :mod:`~adsynth.zoo.training.runlog`: ``metrics.csv``, TensorBoard, ``config.json``, run-folder rules;
* :mod:`~adsynth.zoo.training.distributed`: ``torchrun`` process groups;
* :mod:`~adsynth.zoo.training.amp`: device placement and mixed precision of batches.
"""

from adsynth.zoo.training.config import TrainConfig, TrainResult

__all__ = ["TrainConfig", "TrainResult"]

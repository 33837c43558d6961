"""A trained model at work: over a dataset, over new photos, and exported.

* :mod:`~adsynth.zoo.deploy.predict`: a checkpoint over a dataset, written as a maps file for evaluation;
* :mod:`~adsynth.zoo.deploy.inference`: new photos (a folder, a glob or a dataset) to a results folder,
  resumable;
* :mod:`~adsynth.zoo.deploy.tiling`: photos of any size and aspect through a model of one square
  resolution (squash, pad or seamless tiles);
* :mod:`~adsynth.zoo.deploy.export`: ONNX / OpenVINO export checked against PyTorch, and the runtime of
  exported files.
"""

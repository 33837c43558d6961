"""realism: how much a recipe's synthetic defects look like a dataset's real ones, and recipe fitting.

* :mod:`~adsynth.realism.stats`: simple statistics of one defect region (area, elongation, contrast, edge
  sharpness), pure numpy / OpenCV;
* :mod:`~adsynth.realism.features`: mask-pooled features of the bundled backbone (torch);
* :mod:`~adsynth.realism.score`: the realism score of recipes against the real defects
  (``adsynth recipes score``); :mod:`~adsynth.realism.report` writes it (md, csv, json, heat map);
* :mod:`~adsynth.realism.space`: the declared search space of each generator;
* :mod:`~adsynth.realism.fit`: an Optuna TPE search of a recipe's parameters that minimises the score
  (``adsynth recipes fit``).

The package sits above the zoo (it uses its backbones) and below the CLI; nothing here is imported by
``adsynth --help``.
"""

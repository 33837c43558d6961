"""benchmark: models × recipes × datasets × seeds in one resumable, shardable run (``adsynth benchmark``).

* :mod:`~adsynth.benchmark.config`: the YAML (or flags), validated completely before any cell runs;
* :mod:`~adsynth.benchmark.runner`: one folder per cell (train, predict, evaluate), resume, shards;
* :mod:`~adsynth.benchmark.results`: the tidy table (CSV, JSON, Parquet with pyarrow);
* :mod:`~adsynth.benchmark.matrix`: the recipe × defect-type transfer matrix and the rankings;
* :mod:`~adsynth.benchmark.merge`: shards -> one set of results.

Example:
    >>> from adsynth.benchmark import build_config, load_config, run_benchmark  # doctest: +SKIP
    >>> cfg = build_config(load_config("bench.yaml"), out="bench")  # doctest: +SKIP
    >>> run_benchmark(cfg, "bench", resume=True)  # doctest: +SKIP
"""

from __future__ import annotations

from adsynth.benchmark.config import BenchConfig, Cell, build_config, load_config, shard_cells
from adsynth.benchmark.merge import merge, write_outputs
from adsynth.benchmark.runner import run_benchmark, run_cell

__all__ = [
    "BenchConfig",
    "Cell",
    "build_config",
    "load_config",
    "merge",
    "run_benchmark",
    "run_cell",
    "shard_cells",
    "write_outputs",
]

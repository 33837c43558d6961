"""data: the HDF5 dataset format, its writer and reader, importers and exporters (no torch import)."""

from adsynth.data.reader import DatasetReader
from adsynth.data.writer import DatasetWriter, merge_datasets

__all__ = ["DatasetReader", "DatasetWriter", "merge_datasets"]

"""The dataset reader as a ``torch.utils.data.Dataset`` (imports torch; kept out of the light path)."""

from __future__ import annotations

from torch.utils.data import Dataset

from adsynth.data.reader import DatasetReader


class H5Dataset(DatasetReader, Dataset):
    """:class:`~adsynth.data.reader.DatasetReader` usable with ``torch.utils.data.DataLoader``.

    The HDF5 file is opened lazily in each worker process. Items are dicts of numpy arrays and
    scalars (the default collate turns them into tensors); pass ``transform`` to convert or augment.

    Args:
        path: the dataset file.
        transform: optional callable applied to each item dict.
        **filters: ``split``, ``label``, ``defect_type``, ``indices`` as for ``DatasetReader``.
    """

    def __init__(self, path, transform=None, **filters) -> None:
        super().__init__(path, **filters)
        self.transform = transform

    def __getitem__(self, i: int):
        item = super().__getitem__(i)
        return self.transform(item) if self.transform is not None else item

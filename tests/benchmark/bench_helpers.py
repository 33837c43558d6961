"""Tiny datasets and configs for the benchmark tests (32 px, a few images, 1 epoch, narrow models)."""

from __future__ import annotations

import numpy as np


def tiny_dataset(path, n_train: int = 6, n_test: int = 2, size: int = 32, seed: int = 0) -> str:
    """Noise textures; the test split has normal images and two defect types (bright and dark squares)."""
    from adsynth.data import DatasetWriter

    rng = np.random.default_rng(seed)

    def image():
        return rng.integers(90, 160, (size, size, 1), dtype=np.uint8)

    with DatasetWriter(
        path, height=size, width=size, channels=1, seed=seed, settings={"kind": "bench-test"}
    ) as wr:
        for i in range(n_train):
            wr.append(image(), name=f"train/good/{i}.png")
        for i in range(n_test):
            wr.append(image(), split="test", name=f"test/good/{i}.png")
        for kind, level in (("bright", 250), ("dark", 5)):
            for i in range(n_test):
                img, mask = image(), np.zeros((size, size), np.uint8)
                y, x = rng.integers(2, size - 10, 2)
                mask[y : y + 8, x : x + 8] = 1
                img[mask > 0] = level
                wr.append(img, mask, label=1, defect_type=kind, split="test", name=f"test/{kind}/{i}.png")
    return str(path)


def tiny_config(data: str, **over) -> dict:
    """Two synthetic-anomaly models × two recipes × two seeds on ``data`` (8 cells), plus overrides."""
    raw = {
        "datasets": {"tiny": data},
        "models": {"smai": {"hparams": {"base_width": 4}}, "draem": {"hparams": {"base_width": 4}}},
        "recipes": ["cutpaste-scar", "noise"],
        "seeds": [0, 1],
        "budget": {"epochs": 1},
        "image_size": 32,
        "batch_size": 4,
        "device": "cpu",
        "plots": False,
    }
    raw.update(over)
    return raw

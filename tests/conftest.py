"""Shared fixtures: small datasets made from scikit-image's bundled photos and textures (no ../shared)."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One process per core under pytest-xdist: intra-op thread pools would only fight each other.
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_var, "1")
    import cv2

    cv2.setNumThreads(1)


def _write_png(path, img):
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (
        img
        if img.ndim == 2
        else (img[:, :, 0] if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    )
    assert cv2.imwrite(str(path), arr)


@pytest.fixture
def write_png():
    return _write_png


@pytest.fixture
def mvtec_dir(tmp_path):
    """A tiny MVTec AD category: 6 train/good, 3 test/good, 2 test/crack, 2 test/hole with masks."""
    from adsynth.data.samples import sample_images

    root = tmp_path / "mvtec"
    imgs = sample_images("brick", n=13, size=48, seed=1)
    k = 0
    for i in range(6):
        _write_png(root / "train" / "good" / f"{i:03d}.png", imgs[k][1])
        k += 1
    for i in range(3):
        _write_png(root / "test" / "good" / f"{i:03d}.png", imgs[k][1])
        k += 1
    for t in ("crack", "hole"):
        for i in range(2):
            _write_png(root / "test" / t / f"{i:03d}.png", imgs[k][1])
            k += 1
            m = np.zeros((48, 48), np.uint8)
            m[10 + i : 20 + i, 5:30] = 255
            _write_png(root / "ground_truth" / t / f"{i:03d}_mask.png", m)
    return root


@pytest.fixture
def tiny_dataset(tmp_path):
    """An adsynth dataset of 8 RGB 32×32 images (4 normal train, 2 normal test, 2 anomalous test)."""
    from adsynth.data import DatasetWriter

    p = tmp_path / "tiny.h5"
    rng = np.random.default_rng(0)
    with DatasetWriter(p, height=32, width=32, channels=3, seed=0, settings={"kind": "tiny"}) as w:
        for i in range(8):
            img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            mask = np.zeros((32, 32), np.uint8)
            label, dtype, split = 0, "good", "train" if i < 4 else "test"
            if i >= 6:
                mask[4:12, 4:12] = 1
                label, dtype = 1, "crack"
            w.append(
                img,
                mask,
                label=label,
                defect_type=dtype,
                split=split,
                name=f"img{i}.png",
                source=f"img{i}.png",
                provenance={"i": i},
            )
    return p


def write_noise_dataset(path, channels: int = 3, n_train: int = 6, size: int = 32, with_test: bool = True):
    """A dataset of seeded noise images: ``n_train`` normal training images, then (``with_test``) one
    normal test image and one with a bright square defect (mask, label 1, type ``spot``)."""
    from adsynth.data import DatasetWriter

    rng = np.random.default_rng(0)
    with DatasetWriter(path, height=size, width=size, channels=channels, seed=0) as w:
        for i in range(n_train):
            w.append(rng.integers(80, 160, (size, size, channels), dtype=np.uint8), name=f"train/{i}.png")
        if with_test:
            mask = np.zeros((size, size), np.uint8)
            mask[4:12, 4:12] = 1
            w.append(np.full((size, size, channels), 90, np.uint8), split="test", name="test/0.png")
            w.append(np.full((size, size, channels), 200, np.uint8), mask, label=1, defect_type="spot",
                     split="test", name="test/1.png")  # fmt: skip
    return path


@pytest.fixture
def noise_dataset(tmp_path):
    """Path of :func:`write_noise_dataset` (RGB, 32 px, 6 training images, 2 test images)."""
    return write_noise_dataset(tmp_path / "noise.h5")


# The realism tests' toy line (tests/realism/realism_helpers.py). Here and not in a tests/realism/conftest.py:
# a second conftest module would shadow this one for the test folders that import it as ``conftest``.
@pytest.fixture
def toy_line(tmp_path):
    from realism_helpers import write_toy_line

    return write_toy_line(tmp_path / "line.h5")


@pytest.fixture
def toy_recipes(tmp_path):
    from realism_helpers import MIMIC, UNRELATED

    (tmp_path / "mimic.yaml").write_text(MIMIC)
    (tmp_path / "unrelated.yaml").write_text(UNRELATED)
    return tmp_path / "mimic.yaml", tmp_path / "unrelated.yaml"

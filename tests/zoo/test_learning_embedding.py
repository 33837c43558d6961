"""The embedding methods learn a small synthetic inspection task on CPU with random-init backbones.

Normal images are 64 px crops of scikit-image's brick texture (training crops from the left half, test
crops from the right half); anomalies are painted elliptic blobs of a shifted grey level. No pretrained
weights are used anywhere (tests run offline), so the thresholds are below what ImageNet features give.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from sklearn.metrics import roc_auc_score

from adsynth.zoo import create_model

SIZE = 64


def _crops(texture: np.ndarray, n: int, rng: np.random.Generator, x_lo: int, x_hi: int) -> np.ndarray:
    out = []
    for _ in range(n):
        y = rng.integers(0, texture.shape[0] - SIZE + 1)
        x = rng.integers(x_lo, x_hi - SIZE + 1)
        out.append(texture[y : y + SIZE, x : x + SIZE])
    return np.stack(out)[:, None]


def _paint_blobs(images: np.ndarray, rng: np.random.Generator, radius: tuple[float, float]):
    out = images.copy()
    masks = np.zeros((len(images), SIZE, SIZE), np.uint8)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for i in range(len(images)):
        cy, cx = rng.integers(12, SIZE - 12, 2)
        ry, rx = rng.uniform(*radius, 2)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        shift = rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 0.45)
        out[i, 0][inside] = np.clip(out[i, 0][inside].mean() + shift, 0.0, 1.0)
        masks[i][inside] = 1
    return out, masks


def _task(seed: int, n_train: int = 64, n_test: int = 24, radius: tuple[float, float] = (4.0, 9.0)):
    """(train B×1×64×64, test images, image labels, pixel masks), float32 in [0, 1]."""
    texture = data.brick().astype(np.float32) / 255.0
    rng = np.random.default_rng(seed)
    half = texture.shape[1] // 2
    train = _crops(texture, n_train, rng, 0, half)
    normal = _crops(texture, n_test, rng, half, texture.shape[1])
    anomalous, masks = _paint_blobs(_crops(texture, n_test, rng, half, texture.shape[1]), rng, radius)
    test = torch.from_numpy(np.concatenate([normal, anomalous]))
    labels = np.r_[np.zeros(n_test), np.ones(n_test)]
    pixel = np.concatenate([np.zeros_like(masks), masks])
    return torch.from_numpy(train), test, labels, pixel


def _fit(model, train: torch.Tensor, batch: int = 16) -> None:
    for i in range(0, len(train), batch):
        model.fit_batch({"image": train[i : i + batch]})
    model.fit_end()


def _check_prediction(pred, test: torch.Tensor) -> None:
    assert pred.anomaly_map.shape == (len(test), SIZE, SIZE)
    assert pred.score.shape == (len(test),)
    assert torch.isfinite(pred.anomaly_map).all() and torch.isfinite(pred.score).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["patchcore", "padim"])
def test_fit_methods_detect_blobs_with_random_features(name):
    torch.manual_seed(0)
    train, test, labels, pixel = _task(seed=0)
    model = create_model(name, image_size=SIZE, channels=1, backbone="resnet18", pretrained=False)
    _fit(model, train)
    pred = model.predict(test)
    _check_prediction(pred, test)
    image_auroc = roc_auc_score(labels, pred.score.numpy())
    pixel_auroc = roc_auc_score(pixel.ravel(), pred.anomaly_map.numpy().ravel())
    # Measured image / pixel AUROC: PatchCore 0.976 / 0.948, PaDiM 0.995 / 0.977. Random conv features still
    # encode local grey level and texture, and the blobs change both; 0.9 / 0.8 leave room for BLAS and
    # platform differences while staying far above chance (0.5).
    assert image_auroc >= 0.9, image_auroc
    assert pixel_auroc >= 0.8, pixel_auroc


def _cutpaste_views(images: np.ndarray, rng: np.random.Generator):
    """CutPaste (label 1: a 2-15 % area rectangle) or scar (label 2: a thin strip) from the same image,
    brightness-jittered, pasted elsewhere; returns (augmented, mask B×1×H×W, labels)."""
    b, _, h, w = images.shape
    aug = images.copy()
    mask = np.zeros((b, 1, h, w), np.float32)
    labels = rng.integers(1, 3, b)
    for i in range(b):
        if labels[i] == 1:
            area = rng.uniform(0.02, 0.15) * h * w
            aspect = np.exp(rng.uniform(np.log(0.3), np.log(1 / 0.3)))
            ph, pw = (
                int(min(h - 1, round(np.sqrt(area / aspect)))),
                int(min(w - 1, round(np.sqrt(area * aspect)))),
            )
        else:
            pw, ph = int(rng.integers(2, 5)), int(rng.integers(6, 14))
        sy, sx, dy, dx = (int(rng.integers(0, n - p + 1)) for n, p in ((h, ph), (w, pw), (h, ph), (w, pw)))
        patch = images[i, :, sy : sy + ph, sx : sx + pw] * rng.uniform(0.9, 1.1) + rng.uniform(-0.1, 0.1)
        aug[i, :, dy : dy + ph, dx : dx + pw] = np.clip(patch, 0.0, 1.0)
        mask[i, 0, dy : dy + ph, dx : dx + pw] = 1.0
    return aug, mask, labels


def _cutpaste_batch(images: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    aug, mask, labels = _cutpaste_views(images, rng)
    return {
        "image": torch.from_numpy(images),
        "aug_image": torch.from_numpy(aug),
        "aug_mask": torch.from_numpy(mask),
        "aug_label": torch.from_numpy(labels),
    }


@pytest.mark.slow
def test_cutpaste_learns_its_pretext_task_and_detects_blobs():
    torch.manual_seed(0)
    train, test, labels, pixel = _task(seed=1, radius=(6.0, 12.0))
    rng = np.random.default_rng(0)
    held_out = _cutpaste_batch(train[:32].numpy(), np.random.default_rng(123))
    model = create_model("cutpaste", image_size=SIZE, channels=1)

    def held_out_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(model.training_step(held_out)["loss"])

    before = held_out_loss()
    # Adam, not the reference SGD (lr 0.03): from scratch SGD needs hundreds of steps to leave the initial
    # plateau (measured: no loss change in 60 steps at lr 0.03 or 0.1), too long for a CPU test.
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(40):
        idx = rng.choice(len(train), 16, replace=False)
        loss = model.training_step(_cutpaste_batch(train[idx].numpy(), rng))["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = held_out_loss()
    _fit(model, train)
    pred = model.predict(test)
    _check_prediction(pred, test)
    image_auroc = roc_auc_score(labels, pred.score.numpy())
    pixel_auroc = roc_auc_score(pixel.ravel(), pred.anomaly_map.numpy().ravel())
    # Measured: held-out 3-way loss (image + patch) 2.196 -> 2.005 after 40 steps; image AUROC 0.878, pixel
    # AUROC 0.767. 40 steps from scratch is the very start of training (the paper trains for thousands), so
    # the thresholds only demand a clear learning signal and clearly-above-chance detection.
    assert after < 0.95 * before, (before, after)
    assert image_auroc >= 0.75, image_auroc
    assert pixel_auroc >= 0.65, pixel_auroc

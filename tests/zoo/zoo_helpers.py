"""Small datasets and a stand-in synth recipe for the zoo trainer, contract and learning tests."""

from __future__ import annotations

import numpy as np

from adsynth.synth.base import SynthContext, SynthResult


def texture_crops(n: int, size: int = 64, seed: int = 0, name: str = "brick") -> list[np.ndarray]:
    """``n`` seeded crops of a bundled scikit-image texture, size×size×1 uint8."""
    from adsynth.data.samples import sample_images

    return [img for _, img in sample_images(name, n=n, size=size, seed=seed)]


def paint_blob(
    image: np.ndarray, rng: np.random.Generator, contrast: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A filled ellipse of noisy intensity (a simple stain/hole defect) and its 0/1 mask.

    Without ``contrast`` the ellipse is dark (30) or bright (225); with it, the image's mean shifted by
    ±``contrast`` grey levels (a subtler defect)."""
    import cv2

    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    center = (int(rng.integers(w // 6, w - w // 6)), int(rng.integers(h // 6, h - h // 6)))
    axes = (
        int(rng.integers(max(2, w // 14), max(3, w // 7))),
        int(rng.integers(max(2, h // 14), max(3, h // 7))),
    )
    cv2.ellipse(mask, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    if contrast is None:
        level = float(rng.choice([30.0, 225.0]))
    else:
        level = float(np.clip(image.mean() + rng.choice([-1.0, 1.0]) * contrast, 0, 255))
    noisy = np.clip(level + rng.normal(0, 12, image.shape), 0, 255)
    out = np.where(mask[:, :, None] > 0, noisy, image).astype(np.uint8)
    return out, mask


def write_dataset(
    path, train: list[np.ndarray], test_normal: list[np.ndarray] = (), test_anomalous=()
) -> str:
    """An adsynth dataset: ``train`` normal images, then test normals and (image, mask) anomalies."""
    from adsynth.data import DatasetWriter

    h, w, c = train[0].shape
    with DatasetWriter(path, height=h, width=w, channels=c, seed=0, settings={"kind": "zoo-test"}) as wr:
        for i, img in enumerate(train):
            wr.append(img, name=f"train/good/{i:03d}.png")
        for i, img in enumerate(test_normal):
            wr.append(img, split="test", name=f"test/good/{i:03d}.png")
        for i, (img, mask) in enumerate(test_anomalous):
            wr.append(img, mask, label=1, defect_type="blob", split="test", name=f"test/blob/{i:03d}.png")
    return str(path)


def blob_dataset(
    path, n_train: int = 12, n_test: int = 4, size: int = 64, channels: int = 1, seed: int = 0, defect=None
) -> str:
    """Brick crops for training; test = other crops, half of them with a defect.

    ``defect(image, rng) -> (image, mask)``; default a painted blob.
    """
    imgs = texture_crops(n_train + 2 * n_test, size, seed)
    if channels == 3:
        imgs = [np.repeat(im, 3, axis=2) for im in imgs]
    rng = np.random.default_rng(seed + 1)
    test = imgs[n_train:]
    defect = defect or paint_blob
    anomalous = [defect(im, rng) for im in test[n_test:]]
    return write_dataset(path, imgs[:n_train], test[:n_test], anomalous)


class StandInRecipe:
    """A tiny recipe with the ``Recipe.apply`` API: ``normal_fraction`` of the samples left normal, the
    rest a painted blob, or a defect of ``generator`` when one is given.

    For tests that ask for it explicitly: a fast, stable synthesis whose output depends only on the rng.
    """

    name = "stand-in"

    def __init__(self, normal_fraction: float = 0.5, generator=None) -> None:
        self.normal_fraction = normal_fraction
        self.generator = generator

    def apply(
        self, image: np.ndarray, rng: np.random.Generator, context: SynthContext | None = None
    ) -> SynthResult:
        if rng.random() < self.normal_fraction:
            return SynthResult(image.copy(), np.zeros(image.shape[:2], np.uint8), 0, {"generator": None})
        if self.generator is not None:
            return self.generator.synthesize(image, rng, context=context)
        out, mask = paint_blob(image, rng)
        return SynthResult(out, mask, 1, {"generator": "blob"})


def draem_recipe():
    """The real ``draem`` recipe (procedural textures: no texture folder needed). Any error loading it
    fails the test that asked for it."""
    from adsynth.synth.recipes import load_recipe

    return load_recipe("draem", textures=None)


def blob_task(path) -> str:
    """The learning tests' task: 48 brick crops (64 px, gray) for training; the test split holds 16 other
    crops and 16 with a noisy ellipse ±50 grey levels from the crop's mean."""
    return blob_dataset(path, n_train=48, n_test=16, size=64, defect=lambda im, rng: paint_blob(im, rng, 50))


def colourise(gray: np.ndarray) -> np.ndarray:
    """H×W×1 uint8 → H×W×3 through a fixed colour map (grey level v → (v, v/2 + 64, 255 − 0.8 v)), so
    each of L and ab determines the other."""
    v = gray[..., 0].astype(np.float32)
    rgb = np.stack([v, v / 2 + 64, 255 - 0.8 * v], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def hue_stain(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The channels rolled (R, G, B → G, B, R) inside a random ellipse (the ellipse of ``paint_blob``):
    no grey level keeps its colour, so the stain is visible everywhere in it."""
    _, mask = paint_blob(image[..., :1], rng)
    out = np.where(mask[..., None] > 0, np.roll(image, -1, axis=-1), image)
    return np.ascontiguousarray(out), mask


def colour_task(path) -> str:
    """The colour learning task: the crops of ``blob_task`` through ``colourise`` (48 for training, 16
    normal test crops) and 16 with a ``hue_stain``, a stain of another hue whose texture is unchanged."""
    imgs = [colourise(im) for im in texture_crops(48 + 32, 64, 0)]
    rng = np.random.default_rng(1)
    anomalous = [hue_stain(im, rng) for im in imgs[64:]]
    return write_dataset(path, imgs[:48], imgs[48:64], anomalous)


def predict_scores(model, task: str, path) -> tuple[np.ndarray, np.ndarray]:
    """Scores and maps of ``model`` (a checkpoint path or a model object) on the test split of ``task``,
    written through ``predict_dataset`` to ``path`` and read back (rows in the reader's order)."""
    import h5py

    from adsynth.data import DatasetReader
    from adsynth.zoo.deploy.predict import predict_dataset

    predict_dataset(model, task, path, device="cpu")
    with h5py.File(path, "r") as f:
        scores, maps, index = f["scores"][()], f["maps"][()], f["index"][()]
    assert list(index) == list(DatasetReader(task, split="test").indices)
    assert np.isfinite(scores).all() and np.isfinite(maps).all()
    return scores, maps


def train_and_score(task: str, out_dir, model: str, epochs: int, **train_kw) -> dict:
    """Train ``model`` on ``task`` (64 px, batch 8, CPU, seed 0, no workers unless given in
    ``train_kw``), predict the test split and score it.

    Returns a dict: ``image_auroc``, ``pixel_auroc`` (scikit-learn), ``scores``, ``maps``, ``labels``
    (bool), ``result`` (the trainer's TrainResult) and ``seconds``.
    """
    import time
    from pathlib import Path

    from sklearn.metrics import roc_auc_score

    from adsynth.data import DatasetReader
    from adsynth.zoo.trainer import TrainConfig, train

    t0 = time.perf_counter()
    cfg = {"batch_size": 8, "image_size": 64, "workers": 0, "device": "cpu", "seed": 0, "progress": False}
    cfg.update(train_kw)
    out_dir = Path(out_dir)
    result = train(TrainConfig(model=model, data=task, out=str(out_dir / model), epochs=epochs, **cfg))
    scores, maps = predict_scores(result.checkpoint, task, out_dir / f"{model}-maps.h5")
    reader = DatasetReader(task, split="test")
    labels = reader.labels > 0
    masks = np.stack([reader.read_mask(i) for i in range(len(reader))])
    image_auroc = float(roc_auc_score(labels, scores))
    pixel_auroc = float(roc_auc_score(masks.ravel() > 0, maps.ravel()))
    seconds = time.perf_counter() - t0
    print(f"{model}: image AUROC {image_auroc:.3f}, pixel AUROC {pixel_auroc:.3f}, {seconds:.1f} s")
    return {
        "image_auroc": image_auroc,
        "pixel_auroc": pixel_auroc,
        "scores": scores,
        "maps": maps,
        "labels": labels,
        "result": result,
        "seconds": seconds,
    }

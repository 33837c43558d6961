"""The generator contract, checked on every registered generator (STYLE pattern 11).

New generators are picked up automatically: ``load_generators()`` imports every module of the package
(found by ``pkgutil``) and any import error fails loudly.
"""

from __future__ import annotations

import importlib
import inspect
import json

import albumentations as A
import cv2
import numpy as np
import pytest
import skimage.data

from adsynth.errors import ConfigError
from adsynth.synth import GENERATORS, ImagePool, SynthContext, load_generators

SIZE = 96

# One invalid constructor argument per generator: the ConfigError must name the parameter.
INVALID = {
    "shading": {"coverage": (0.5, 0.2)},
    "cutpaste": {"area_ratio": (0.5, 0.1)},
    "cutpaste-3way": {"area_ratio": (0.5, 0.1)},
    "cutpaste-scar": {"scar_width": (16, 2)},
    "erasure": {"count": (3, 1)},
    "grid": {"cell_sizes": [0]},
    "memseg": {"threshold": 1.5},
    "noise": {"sigma": (50.0, 15.0)},
    "ognet": {"checkpoint": 3},
    "poisson": {"num_patches": 0},
    "stripes": {"widths": [0.0]},
    "superpixel": {"n_segments": 0},
    "texture": {"beta": (0.9, 0.1)},
}


load_generators()
NAMES = GENERATORS.list()


def _rgb(img: np.ndarray, size: int = SIZE) -> np.ndarray:
    img = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
    return cv2.resize(img[:, :, :3], (size, size), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [_rgb(skimage.data.astronaut()), _rgb(skimage.data.coffee()), _rgb(skimage.data.brick())]


def _variants(photos: list[np.ndarray]) -> dict[str, np.ndarray]:
    rgb = photos[0]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return {"rgb": rgb, "gray2d": gray, "gray3d": gray[:, :, None]}


def _context(cls, photos: list[np.ndarray], image: np.ndarray) -> SynthContext | None:
    if not cls.needs_pool:
        return None
    pool = [image] + [
        p if image.ndim == 3 and image.shape[2] == 3 else _gray_like(p, image) for p in photos[1:]
    ]
    return SynthContext(pool=ImagePool(pool), index=0)


def _gray_like(p: np.ndarray, image: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(p, cv2.COLOR_RGB2GRAY)
    return g if image.ndim == 2 else g[:, :, None]


def _run(name: str, image: np.ndarray, photos: list[np.ndarray], seed: int, **kwargs):
    cls = GENERATORS.get(name)
    gen = cls(**kwargs)
    return gen, gen.synthesize(image, rng=seed, context=_context(cls, photos, image))


def _as3(x: np.ndarray) -> np.ndarray:
    return x if x.ndim == 3 else x[:, :, None]


def test_every_generator_class_of_every_module_is_registered():
    from adsynth.synth import Generator, generator_modules

    registered = {GENERATORS.get(n) for n in NAMES}
    for mod in generator_modules():
        module = importlib.import_module(f"adsynth.synth.{mod}")
        for obj in vars(module).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Generator)
                and obj is not Generator
                and obj.__module__ == module.__name__
                and not inspect.isabstract(obj)
                and not obj.__name__.startswith("_")
            ):
                assert obj in registered, f"{module.__name__}.{obj.__name__} is not registered"
    assert len(NAMES) >= 12


def test_a_module_that_fails_to_import_is_loud(monkeypatch):
    import adsynth.synth as synth

    real = importlib.import_module

    def broken(name, *a, **k):
        if name == "adsynth.synth.noise":
            raise RuntimeError("boom")
        return real(name, *a, **k)

    monkeypatch.setattr(synth, "_LOADED", False)
    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ImportError, match="synth module 'noise' failed to import: RuntimeError: boom"):
        synth.load_generators()


def test_one_parameter_check_for_generators():
    with pytest.raises(ConfigError, match=r"generator 'noise' has no parameter 'sigmaa' \(valid: .*sigma"):
        GENERATORS.create("noise", sigmaa=3)
    # a generator that forwards **kwargs to its base takes the base's parameters, and only those
    assert "threshold" in GENERATORS.params("memseg")
    with pytest.raises(ConfigError, match="generator 'memseg' has no parameter 'nosuch'"):
        GENERATORS.create("memseg", nosuch=1)


@pytest.mark.parametrize("name", NAMES)
def test_metadata(name):
    cls = GENERATORS.get(name)
    assert cls.name == name
    assert cls.family and cls.paper and cls.description
    json.dumps(cls().config())


@pytest.mark.parametrize("kind", ["rgb", "gray2d", "gray3d"])
@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_mask(name, kind, photos):
    image = _variants(photos)[kind]
    before = image.copy()
    gen, res = _run(name, image, photos, seed=3)
    assert np.array_equal(image, before), "the input image was modified in place"
    assert res.image.shape == image.shape and res.image.dtype == np.uint8
    assert res.mask.shape == image.shape[:2] and res.mask.dtype == np.uint8
    assert set(np.unique(res.mask).tolist()) <= {0, 1}
    assert isinstance(res.label, int) and res.label >= 1
    changed = (_as3(res.image) != _as3(image)).any(axis=2)
    if gen.label_only:
        assert not res.mask.any()
        assert changed.any()
        return
    assert res.mask.any(), "a defective sample needs a non-empty mask"
    if gen.mask_is_changed_pixels:
        assert np.array_equal(res.mask.astype(bool), changed), "mask != changed pixels"
    else:
        assert not (changed & ~res.mask.astype(bool)).any(), "a pixel changed outside the mask"


@pytest.mark.parametrize("name", NAMES)
def test_nonempty_over_many_seeds(name, photos):
    """Redraws are the generator's job: no seed may give an empty defect (64 px, many draws)."""
    image = cv2.resize(photos[0], (64, 64), interpolation=cv2.INTER_AREA)
    cls = GENERATORS.get(name)
    gen = cls()
    ctx = _context(cls, [cv2.resize(p, (64, 64)) for p in photos], image)
    for seed in range(25):
        res = gen.synthesize(image, rng=seed, context=ctx)
        changed = (res.image != image).any(axis=2)
        if gen.label_only:
            assert changed.any()
        else:
            assert res.mask.any(), f"empty mask for seed {seed}"
        if gen.mask_is_changed_pixels and not gen.label_only:
            assert np.array_equal(res.mask.astype(bool), changed), f"mask != changed pixels for seed {seed}"


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_bytes(name, photos):
    image = photos[0]
    _, a = _run(name, image, photos, seed=11)
    _, b = _run(name, image, photos, seed=11)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.mask.tobytes() == b.mask.tobytes()
    assert json.dumps(a.params, sort_keys=True) == json.dumps(b.params, sort_keys=True)
    assert a.label == b.label and a.sources == b.sources


@pytest.mark.parametrize("name", NAMES)
def test_different_seeds_different_defects(name, photos):
    image = photos[0]
    outs = {_run(name, image, photos, seed=s)[1].image.tobytes() for s in range(6)}
    assert len(outs) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_params_json_serialisable_and_plain(name, photos):
    _, res = _run(name, photos[0], photos, seed=5)
    text = json.dumps(res.params)  # raises on numpy scalars/arrays
    assert json.loads(text) == res.params
    json.dumps(res.sources)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
    cls = GENERATORS.get(name)
    cfg = cls().config()
    json.dumps(cfg)
    assert cls(**cfg).config() == cfg


@pytest.mark.parametrize("name", NAMES)
def test_invalid_parameter_raises_config_error(name):
    assert name in INVALID, f"add an invalid constructor argument for {name!r} to INVALID"
    ((param, value),) = INVALID[name].items()
    with pytest.raises(ConfigError, match=f"`{param}"):
        GENERATORS.get(name)(**{param: value})


@pytest.mark.parametrize("name", NAMES)
def test_nonsense_values_raise_config_error(name):
    cls = GENERATORS.get(name)
    params = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name not in ("self", "p", "sources") and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not params:
        pytest.skip(f"{name} has no parameters")
    rejected = []
    for p in params:
        try:
            cls(**{p.name: "@@not-a-valid-value@@"})
        except ConfigError as e:
            assert p.name in str(e), f"the message should name `{p.name}`: {e}"
            rejected.append(p.name)
    assert rejected, f"{name}: no parameter rejects a nonsense value"


@pytest.mark.parametrize("kind", ["rgb", "gray2d"])
@pytest.mark.parametrize("name", NAMES)
def test_albumentations_compose(name, kind, photos):
    cls = GENERATORS.get(name)
    image = _variants(photos)[kind]
    sources = [p if kind == "rgb" else _gray_like(p, image) for p in photos[1:]]
    kwargs = {"sources": sources} if cls.needs_pool else {}
    existing = np.zeros(image.shape[:2], np.uint8)
    existing[:8, :8] = 1

    def run(seed):
        pipe = A.Compose([cls(**kwargs)], seed=seed)
        return pipe(image=image, mask=existing.copy())

    a, b = run(7), run(7)
    assert a["image"].shape == image.shape and a["image"].dtype == np.uint8
    assert a["mask"].shape == existing.shape
    assert np.array_equal(a["image"], b["image"]) and np.array_equal(a["mask"], b["mask"])
    out_mask = a["mask"].astype(bool)
    assert out_mask[:8, :8].all(), "the existing mask must be kept (ORed)"
    changed = (_as3(a["image"]) != _as3(image)).any(axis=2)
    if not cls.label_only:
        assert out_mask.sum() > existing.sum(), "the new defect must be ORed into the mask"
        assert not (changed & ~out_mask).any(), "a pixel changed outside the mask"
    assert len({run(s)["image"].tobytes() for s in range(4)}) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_existing_mask_is_ored(name, photos):
    image = photos[0]
    cls = GENERATORS.get(name)
    existing = np.zeros(image.shape[:2], np.uint8)
    existing[-5:, -5:] = 1
    plain = cls().synthesize(image, rng=2, context=_context(cls, photos, image))
    merged = cls().synthesize(image, rng=2, mask=existing, context=_context(cls, photos, image))
    assert np.array_equal(merged.mask, np.maximum(plain.mask, existing))

"""Behaviour of the ``ognet`` generator (OGNet's averaged pseudo-anomalies)."""

from __future__ import annotations

import numpy as np
import pytest

from adsynth.errors import ConfigError, DataError
from adsynth.synth.base import GENERATORS, ImagePool, SynthContext
from adsynth.synth.ognet import OGNetGenerator, average_images


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(4)]


def _avg(a, b):
    return np.floor((a.astype(np.float64) + b.astype(np.float64)) / 2 + 0.5).astype(np.uint8)


def test_registered_as_label_only_pool_generator():
    cls = GENERATORS.get("ognet")
    assert cls is OGNetGenerator
    assert cls.label_only and cls.needs_pool and not cls.mask_is_changed_pixels
    assert cls.family and cls.paper and cls.description


def test_output_is_rounded_average_with_a_different_image(images):
    pool = ImagePool(images)
    gen = OGNetGenerator()
    partners = set()
    for seed in range(30):
        res = gen.synthesize(images[2], rng=seed, context=SynthContext(pool=pool, index=2))
        j = res.params["partner"]
        assert j != 2
        partners.add(j)
        assert np.array_equal(res.image, _avg(images[2], images[j]))
        assert res.label == 1 and res.mask.shape == (24, 32) and not res.mask.any()
        assert res.sources == [f"pool[{j}]"]
    assert partners == {0, 1, 3}


def test_average_rounds_half_up():
    a = np.array([[0, 1, 254, 255]], np.uint8)
    b = np.array([[1, 2, 255, 255]], np.uint8)
    assert average_images(a, b).tolist() == [[1, 2, 255, 255]]


def test_reconstructor_path_follows_ognet(images):
    def g(x):  # the current generator G
        return (255 - x).astype(np.uint8)

    def g_old(x):  # the first-epoch generator G_old
        return (x // 2).astype(np.uint8)

    pool = ImagePool(images)
    res = OGNetGenerator(reconstructor=g, old_reconstructor=g_old).synthesize(
        images[0], rng=1, context=SynthContext(pool=pool, index=0)
    )
    j = res.params["partner"]
    assert res.params["reconstructed"] is True
    assert np.array_equal(res.image, g(_avg(g_old(images[0]), g_old(images[j]))))
    # G_old defaults to G.
    res = OGNetGenerator(reconstructor=g).synthesize(
        images[0], rng=1, context=SynthContext(pool=pool, index=0)
    )
    assert np.array_equal(res.image, g(_avg(g(images[0]), g(images[j]))))


def test_reconstructor_must_return_a_matching_uint8_image(images):
    pool = ImagePool(images)
    gen = OGNetGenerator(reconstructor=lambda x: x.astype(np.float32))
    with pytest.raises(DataError, match="reconstructor"):
        gen.synthesize(images[0], rng=0, context=SynthContext(pool=pool, index=0))
    with pytest.raises(ConfigError, match="reconstructor"):
        OGNetGenerator(reconstructor="checkpoint.pt")
    with pytest.raises(ConfigError, match="old_reconstructor"):
        OGNetGenerator(old_reconstructor=lambda x: x)


def test_pool_with_only_the_image_itself_is_an_error(images):
    with pytest.raises(ConfigError, match="another"):
        OGNetGenerator().synthesize(
            images[0], rng=0, context=SynthContext(pool=ImagePool(images[:1]), index=0)
        )
    with pytest.raises(ConfigError, match="pool"):
        OGNetGenerator().synthesize(images[0], rng=0)


def test_partner_of_another_size_and_gray_images(images):
    big = np.full((48, 64, 3), 200, np.uint8)
    res = OGNetGenerator(sources=[big]).synthesize(images[0], rng=0)
    assert np.array_equal(res.image, _avg(images[0], np.full_like(images[0], 200)))
    gray = images[1][:, :, 0]
    res = OGNetGenerator(sources=[np.zeros((24, 32), np.uint8)]).synthesize(gray, rng=0)
    assert res.image.shape == gray.shape and np.array_equal(res.image, _avg(gray, np.zeros_like(gray)))


def test_seeded_and_config(images):
    pool = ImagePool(images)
    a = OGNetGenerator().synthesize(images[0], rng=9, context=SynthContext(pool=pool, index=0))
    b = OGNetGenerator().synthesize(images[0], rng=9, context=SynthContext(pool=pool, index=0))
    assert a.params == b.params and np.array_equal(a.image, b.image)
    assert OGNetGenerator(reconstructor=lambda x: x).config() == {}


def test_checkpoint_of_a_trained_autoencoder_is_the_reconstructor(images, tmp_path):
    import subprocess
    import sys

    torch = pytest.importorskip("torch")
    from adsynth.zoo import create_model
    from adsynth.zoo.checkpoint import load_reconstructor, make_checkpoint, save_checkpoint

    # The zoo loader is imported on first use only, not with the generator module.
    code = "import sys, adsynth.synth.ognet; sys.exit('adsynth.zoo.checkpoint' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0

    torch.manual_seed(0)
    ae = create_model("ae", image_size=32, channels=3, latent_dim=8)
    opt = torch.optim.Adam(ae.parameters(), lr=1e-3)
    batch = torch.from_numpy(np.stack(images)[:, :24, :24]).permute(0, 3, 1, 2).float() / 255
    batch = torch.nn.functional.interpolate(batch, size=32)
    for _ in range(3):  # a few steps: a trained, if poor, autoencoder
        opt.zero_grad()
        ae.training_step({"image": batch})["loss"].backward()
        opt.step()
    path = str(save_checkpoint(tmp_path / "model.pt", make_checkpoint(ae.eval(), epoch=1)))

    gen = OGNetGenerator(checkpoint=path)
    assert gen.config() == {"checkpoint": path} and gen.reconstructor is None  # lazy
    pool = ImagePool(images)
    res = gen.synthesize(images[0], rng=3, context=SynthContext(pool=pool, index=0))
    j = res.params["partner"]
    g = load_reconstructor(path)
    assert res.params["reconstructed"] is True and res.image.dtype == np.uint8
    assert res.image.shape == images[0].shape
    assert np.array_equal(res.image, g(_avg(g(images[0]), g(images[j]))))
    # Rebuilt from its config, the generator loads the same checkpoint.
    again = OGNetGenerator(**gen.config()).synthesize(
        images[0], rng=3, context=SynthContext(pool=pool, index=0)
    )
    assert np.array_equal(again.image, res.image)
    # Gray images through an RGB model keep their shape.
    assert g(images[1][:, :, 0]).shape == (24, 32)
    with pytest.raises(ConfigError, match="either"):
        OGNetGenerator(checkpoint=path, reconstructor=lambda x: x)

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


def test_checkpoint_needs_a_loader_and_is_loaded_on_first_use(images):
    with pytest.raises(ConfigError, match="checkpoint_loader"):
        OGNetGenerator(checkpoint="model.pt")
    with pytest.raises(ConfigError, match="checkpoint_loader"):
        OGNetGenerator(checkpoint="model.pt", checkpoint_loader="load")
    with pytest.raises(ConfigError, match="either"):
        OGNetGenerator(checkpoint="model.pt", checkpoint_loader=lambda p: None, reconstructor=lambda x: x)
    calls = []

    def load(path):
        calls.append(path)
        return lambda x: (255 - x).astype(np.uint8)

    gen = OGNetGenerator(checkpoint="runs/ae/model.pt", checkpoint_loader=load)
    assert calls == [] and gen.config() == {"checkpoint": "runs/ae/model.pt"}  # lazy; provenance
    pool = ImagePool(images)
    for seed in range(3):
        res = gen.synthesize(images[0], rng=seed, context=SynthContext(pool=pool, index=0))
        j = res.params["partner"]
        assert res.params["reconstructed"] is True
        assert np.array_equal(res.image, 255 - _avg(255 - images[0], 255 - images[j]))
    assert calls == ["runs/ae/model.pt"]  # loaded once
    bad = OGNetGenerator(checkpoint="x.pt", checkpoint_loader=lambda p: "not a function")
    with pytest.raises(ConfigError, match="not a function"):
        bad.synthesize(images[0], rng=0, context=SynthContext(pool=pool, index=0))
    # A loader without a checkpoint is not kept.
    assert OGNetGenerator(checkpoint_loader=load).checkpoint_loader is None


def test_recipe_naming_a_checkpoint_gets_the_callers_loader(images):
    from adsynth.synth.recipes import recipe_from_dict

    spec = {"generators": [{"name": "ognet", "params": {"checkpoint": "runs/ae/model.pt"}}]}
    with pytest.raises(ConfigError, match="checkpoint_loader"):
        recipe_from_dict(spec)
    recipe = recipe_from_dict(spec, checkpoint_loader=lambda path: lambda x: x)
    assert recipe.to_dict()["generators"][0]["params"] == {"checkpoint": "runs/ae/model.pt"}
    res = recipe.apply(images[0], np.random.default_rng(0), SynthContext(pool=ImagePool(images), index=0))
    assert res.params["params"]["reconstructed"] is True


@pytest.fixture
def ae_checkpoint(images, tmp_path):
    """A checkpoint of a trained (a few steps, 32 px) autoencoder."""
    torch = pytest.importorskip("torch")
    from adsynth.zoo import create_model
    from adsynth.zoo.checkpoint import make_checkpoint, save_checkpoint

    torch.manual_seed(0)
    ae = create_model("ae", image_size=32, channels=3, latent_dim=8)
    opt = torch.optim.Adam(ae.parameters(), lr=1e-3)
    batch = torch.from_numpy(np.stack(images)[:, :24, :24]).permute(0, 3, 1, 2).float() / 255
    batch = torch.nn.functional.interpolate(batch, size=32)
    for _ in range(3):  # a few steps: a trained, if poor, autoencoder
        opt.zero_grad()
        ae.training_step({"image": batch})["loss"].backward()
        opt.step()
    return str(save_checkpoint(tmp_path / "model.pt", make_checkpoint(ae.eval(), epoch=1)))


def test_checkpoint_of_a_trained_autoencoder_is_the_reconstructor(images, ae_checkpoint):
    import subprocess
    import sys

    from adsynth.zoo.checkpoint import load_reconstructor

    path = ae_checkpoint

    # The generator module does not load the zoo (nor torch).
    code = "import sys, adsynth.synth.ognet; sys.exit(any(m.startswith('adsynth.zoo') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0

    # The zoo side turns the checkpoint into the generator's function.
    gen = OGNetGenerator(checkpoint=path, checkpoint_loader=load_reconstructor)
    assert gen.config() == {"checkpoint": path} and gen.reconstructor is None  # lazy
    pool = ImagePool(images)
    res = gen.synthesize(images[0], rng=3, context=SynthContext(pool=pool, index=0))
    j = res.params["partner"]
    g = load_reconstructor(path)
    assert res.params["reconstructed"] is True and res.image.dtype == np.uint8
    assert res.image.shape == images[0].shape
    assert np.array_equal(res.image, g(_avg(g(images[0]), g(images[j]))))
    # Rebuilt from its config (and the loader), the generator loads the same checkpoint.
    again = OGNetGenerator(**gen.config(), checkpoint_loader=load_reconstructor).synthesize(
        images[0], rng=3, context=SynthContext(pool=pool, index=0)
    )
    assert np.array_equal(again.image, res.image)
    # Gray images through an RGB model keep their shape.
    assert g(images[1][:, :, 0]).shape == (24, 32)
    with pytest.raises(ConfigError, match="either"):
        OGNetGenerator(checkpoint=path, checkpoint_loader=load_reconstructor, reconstructor=lambda x: x)


def test_generate_cli_runs_a_recipe_naming_a_checkpoint(ae_checkpoint, tmp_path):
    from click.testing import CliRunner

    from adsynth.cli.main import cli
    from adsynth.data import DatasetReader
    from adsynth.synth.engine import generate_dataset

    recipe = tmp_path / "ognet-ae.yaml"
    recipe.write_text(f"generators:\n  - name: ognet\n    params: {{checkpoint: {ae_checkpoint!r}}}\n")
    out = tmp_path / "out.h5"
    args = ["generate", "--recipe", str(recipe), "--out", str(out), "--size", "32", "--limit", "4"]
    r = CliRunner().invoke(cli, [*args, "--workers", "2"])
    assert r.exit_code == 0, r.output
    ds = DatasetReader(out)
    assert len(ds) == 4 and set(ds.labels) == {1}
    assert ds.settings["recipe"]["generators"][0]["params"] == {"checkpoint": ae_checkpoint}
    assert all(ds.provenance(i)["params"]["reconstructed"] for i in range(4))
    # The same bytes in one process; the library without a loader says what is missing.
    r = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "one.h5")])
    assert r.exit_code == 0, r.output
    one = DatasetReader(tmp_path / "one.h5")
    assert all(np.array_equal(ds.read_image(i), one.read_image(i)) for i in range(4))
    with pytest.raises(ConfigError, match="checkpoint_loader"):
        generate_dataset(str(recipe), tmp_path / "lib.h5", size=32, limit=4)

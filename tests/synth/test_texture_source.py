"""Texture sources: user folders (lazy, cached, errors naming the file) and offline fallbacks."""

from __future__ import annotations

import socket

import numpy as np
import pytest

import adsynth.synth.texture_source as textures_mod
from adsynth.errors import ConfigError, DataError
from adsynth.synth.texture_source import (
    PROCEDURAL_TEXTURES,
    SKIMAGE_TEXTURES,
    TextureSource,
    procedural_texture,
)


@pytest.fixture
def texture_dir(tmp_path, write_png):
    rng = np.random.default_rng(0)
    write_png(tmp_path / "tex" / "a" / "one.png", rng.integers(0, 255, (40, 30, 3), dtype=np.uint8))
    write_png(tmp_path / "tex" / "b" / "deeper" / "two.png", rng.integers(0, 255, (20, 50), dtype=np.uint8))
    write_png(tmp_path / "tex" / "three.jpg", np.full((16, 16, 3), 90, np.uint8))
    (tmp_path / "tex" / "notes.txt").write_text("not an image")
    return tmp_path / "tex"


def test_folder_is_searched_recursively(texture_dir):
    src = TextureSource(texture_dir)
    assert sorted(src.names) == ["a/one.png", "b/deeper/two.png", "three.jpg"]
    seen = set()
    for s in range(40):
        tex, info = src.draw(np.random.default_rng(s), (24, 32))
        assert tex.shape == (24, 32, 3) and tex.dtype == np.uint8
        seen.add(info["texture"])
    assert seen == set(src.names)


def test_draw_is_deterministic_given_rng(texture_dir):
    a = TextureSource(texture_dir).draw(np.random.default_rng(7), (32, 32))
    b = TextureSource(texture_dir).draw(np.random.default_rng(7), (32, 32))
    assert a[1] == b[1] and np.array_equal(a[0], b[0])


def test_files_are_decoded_lazily_once_and_cached(texture_dir, monkeypatch):
    calls = []
    real = textures_mod.read_image
    monkeypatch.setattr(textures_mod, "read_image", lambda p: calls.append(p) or real(p))
    src = TextureSource(texture_dir)
    assert calls == []  # listing does not decode
    rng = np.random.default_rng(0)
    for _ in range(30):
        src.draw(rng, (16, 16))
    assert len(calls) == len(set(calls)) <= 3


def test_gray_texture_becomes_rgb(tmp_path, write_png):
    write_png(tmp_path / "g.png", np.tile(np.arange(0, 250, 10, dtype=np.uint8), (25, 1)))
    tex, _ = TextureSource(tmp_path).draw(np.random.default_rng(0), (10, 10))
    assert tex.shape == (10, 10, 3)
    assert np.array_equal(tex[:, :, 0], tex[:, :, 1]) and np.array_equal(tex[:, :, 1], tex[:, :, 2])


def test_corrupt_file_raises_data_error_naming_it(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    src = TextureSource(tmp_path)  # building the source does not decode
    with pytest.raises(DataError, match="broken.png"):
        src.draw(np.random.default_rng(0), (16, 16))


def test_empty_folder_raises_config_error_naming_it(tmp_path):
    empty = tmp_path / "no_textures_here"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ConfigError, match="no_textures_here"):
        TextureSource(empty)
    with pytest.raises(ConfigError, match="missing_folder"):
        TextureSource(tmp_path / "missing_folder")


def test_bad_builtin_raises():
    with pytest.raises(ConfigError, match="builtin"):
        TextureSource(builtin="dtd")


def test_bundled_fallback_works_offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a built-in texture tried to use the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    src = TextureSource()
    assert len(src) == len(SKIMAGE_TEXTURES) + len(PROCEDURAL_TEXTURES)
    seen = set()
    rng = np.random.default_rng(0)
    for _ in range(120):
        tex, info = src.draw(rng, (48, 64))
        assert tex.shape == (48, 64, 3) and tex.dtype == np.uint8
        seen.add(info["texture"])
    assert seen == set(src.names)


def test_skimage_textures_are_random_crops():
    src = TextureSource(builtin="skimage")
    infos = [src.draw(np.random.default_rng(s), (32, 32))[1] for s in range(10)]
    assert all(i["texture"].startswith("skimage:") for i in infos)
    assert len({tuple(i["crop"]) for i in infos}) > 5


@pytest.mark.parametrize("kind", PROCEDURAL_TEXTURES)
def test_procedural_textures_are_seeded_and_varied(kind):
    a, ia = procedural_texture(kind, (40, 40), np.random.default_rng(1))
    b, _ = procedural_texture(kind, (40, 40), np.random.default_rng(1))
    c, _ = procedural_texture(kind, (40, 40), np.random.default_rng(2))
    assert a.shape == (40, 40, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.reshape(-1, 3).std(axis=0).max() > 1  # not a flat colour
    assert ia["texture"] == f"procedural:{kind}"


def test_unknown_procedural_kind_raises():
    with pytest.raises(ConfigError, match="procedural"):
        procedural_texture("plaid", (8, 8), np.random.default_rng(0))

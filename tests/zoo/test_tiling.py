"""Photos of any size: squash, pad (aspect kept) and seamless full-resolution tiles, for every model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adsynth.data.images import fit as import_fit
from adsynth.errors import ConfigError
from adsynth.zoo.base import Prediction
from adsynth.zoo.deploy.tiling import predict_photos, tile_starts


class Identity:
    """A stand-in model whose map is its input's first channel and whose score is the map's max."""

    image_size, channels = 32, 1

    def __init__(self):
        self.calls = []

    def predict(self, x):
        self.calls.append(tuple(x.shape))
        m = x[:, 0]
        return Prediction(anomaly_map=m, score=m.flatten(1).max(1).values)


@pytest.mark.parametrize("length,tile,overlap", [(300, 128, 32), (128, 128, 0), (129, 128, 32), (50, 128, 8)])
def test_tile_starts_cover_with_the_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and starts[-1] == max(0, length - tile)
    for a, b in zip(starts, starts[1:], strict=False):
        assert tile - (b - a) >= overlap
    with pytest.raises(ConfigError):
        tile_starts(length, tile, tile)


def test_tiles_stitch_without_seams_and_keep_the_resolution():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (45, 110, 1), dtype=np.uint8)  # not square, not a multiple of 32
    model = Identity()
    ((amap, score),) = predict_photos(model, [photo], fit="tile", overlap=8, batch=4)
    # Every window sees the photo at full resolution: the stitched identity map is the photo itself.
    assert amap.shape == (45, 110)
    np.testing.assert_allclose(amap, photo[:, :, 0] / 255.0, atol=1e-6)
    assert score == pytest.approx(photo.max() / 255.0)
    assert all(c[1:] == (1, 32, 32) and c[0] <= 4 for c in model.calls)


def test_pad_keeps_the_aspect_and_maps_back_in_place():
    photo = np.zeros((32, 96, 1), np.uint8)
    photo[:, 40:46] = 255  # a vertical band
    model = Identity()
    inputs = []
    model.predict = lambda x, f=model.predict: (inputs.append(x.clone()), f(x))[1]
    ((pad_map, _),) = predict_photos(model, [photo], fit="pad")
    ((squash_map, _),) = predict_photos(model, [photo], fit="squash")
    padded, squashed = inputs[0][0, 0], inputs[1][0, 0]
    # Letterbox: the 96 px side becomes 32, the 32 px side 11 (aspect 3:1 kept), centred, zero bars:
    # exactly what the importer's --resize pad stores, so a model trained on such an import sees its layout.
    expected, _ = import_fit(photo, None, (32, 32), "pad")
    assert torch.equal(padded, torch.from_numpy(expected[:, :, 0]).float() / 255.0)
    assert float(padded[:10].abs().sum()) == 0 and float(padded[21:].abs().sum()) == 0
    assert float(padded[10:21].sum()) < float(squashed.sum())  # squash stretched the band to 3x the height
    for amap in (pad_map, squash_map):  # either way the map comes back at the photo's size, in place
        assert amap.shape == (32, 96)
        assert 40 <= int(np.argmax(amap.mean(0))) <= 45
    with pytest.raises(ConfigError, match="unknown fit"):
        predict_photos(Identity(), [photo], fit="stretch")


def test_every_fit_runs_a_real_model_on_rgb_and_gray_photos():
    from adsynth.zoo import create_model

    model = create_model("ae", image_size=32, channels=3, latent_dim=8).eval()
    photos = [np.full((40, 90, 3), 120, np.uint8), np.full((20, 20, 1), 60, np.uint8)]
    for fit in ("squash", "pad", "tile"):
        out = predict_photos(model, photos, fit=fit, overlap=8)
        assert [m.shape for m, _ in out] == [(40, 90), (20, 20)]
        assert all(np.isfinite(m).all() and np.isfinite(s) for m, s in out)
    assert torch.is_grad_enabled()

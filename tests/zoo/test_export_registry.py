"""Which models of the registry export to ONNX, and a clear error for those that do not.

Every registered model is built small (the contract test's settings), trained one step or fitted, saved
and exported; ``export_model`` itself verifies the ONNX Runtime outputs against PyTorch. A model that
cannot be exported says why in its folder's ``testing.py`` (``not_exportable``, the reason docs/DEPLOY.md
repeats): a model that starts or stops exporting makes this test fail, so the settings stay true.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from test_model_contract import NAMES, create_model, make_batch, small_config, train_once

from adsynth.errors import ConfigError
from adsynth.zoo.checkpoint import make_checkpoint, save_checkpoint
from adsynth.zoo.testing import settings_for

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "DEPLOY.md"


def test_docs_deploy_names_the_models_that_do_not_export():
    """docs/DEPLOY.md's table of the models that do not export names exactly those whose settings say so."""
    text = DEPLOY.read_text(encoding="utf-8")
    table = text[text.index("| model | why its prediction is not") :].split("\n\n")[0]
    documented = {
        name for row in table.splitlines()[2:] for name in re.findall(r"`([^`]+)`", row.split("|")[1])
    }
    assert documented == {n for n in NAMES if settings_for(n).not_exportable is not None}


@pytest.mark.parametrize("name", NAMES)
def test_model_exports_or_says_why(name, tmp_path):
    from adsynth.zoo.deploy.export import export_model

    torch.manual_seed(0)
    model = create_model(name, **small_config(name))
    train_once(model, make_batch(model))
    ckpt = tmp_path / "model.pt"
    save_checkpoint(ckpt, make_checkpoint(model))
    out = tmp_path / "model.onnx"
    if settings_for(name).not_exportable is not None:
        with pytest.raises(ConfigError, match=rf"model '{name}'.*(does not export|does not run)"):
            export_model(ckpt, out)
        assert not out.exists()
    else:
        r = export_model(ckpt, out)  # raises unless ONNX Runtime matches PyTorch within the tolerance
        assert out.is_file() and r["batch"] in ("dynamic", 1)

"""Fixtures of the realism tests (the toy line of ``realism_helpers``)."""

from __future__ import annotations

import pytest
from realism_helpers import MIMIC, UNRELATED, write_toy_line


@pytest.fixture
def toy_line(tmp_path):
    return write_toy_line(tmp_path / "line.h5")


@pytest.fixture
def toy_recipes(tmp_path):
    (tmp_path / "mimic.yaml").write_text(MIMIC)
    (tmp_path / "unrelated.yaml").write_text(UNRELATED)
    return tmp_path / "mimic.yaml", tmp_path / "unrelated.yaml"

"""Discovery, not lists: every method folder of the zoo is found on disk, registers its models and holds
their test settings (``testing.py``, read by the registry-wide tests through ``adsynth.zoo.testing``)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

import adsynth.zoo as zoo
from adsynth.errors import ConfigError
from adsynth.zoo.base import MODELS, AnomalyModel
from adsynth.zoo.testing import SettingsError, folder_settings, method_folder, settings_for


def test_every_method_folder_registers_a_model_defined_in_it():
    zoo.load_models()
    folders = zoo.method_packages()
    assert len(folders) >= 17 and "components" not in folders
    prefix = zoo.METHODS_PACKAGE + "."
    owners = {
        inspect.getmodule(MODELS.get(n)).__name__.removeprefix(prefix).split(".")[0] for n in MODELS.list()
    }
    for folder in folders:
        assert folder in owners, f"zoo/methods/{folder}/ registers no model of its own"
    for name in MODELS.list():
        assert MODELS.get(name).name == name


def test_method_folders_live_in_zoo_methods_and_nothing_else_does():
    """Discovery walks ``zoo/methods/`` only: a method folder left beside the infrastructure would never be
    registered, and anything in ``zoo/methods/`` that is not a method folder would be imported as one."""
    root = Path(zoo.__file__).parent
    outside = sorted(
        str(p.parent.relative_to(root))
        for name in ("model.py", "testing.py")
        for p in root.rglob(name)
        if p.parent != root and p.parent.parent != root / "methods"
    )
    assert outside == [], f"method folders outside zoo/methods/: {outside}"
    entries = sorted(
        p.name for p in (root / "methods").iterdir() if p.name not in ("__init__.py", "__pycache__")
    )
    assert entries == zoo.method_packages()
    assert all((root / "methods" / e / "__init__.py").is_file() for e in entries), entries


def test_every_model_class_of_a_folder_is_registered():
    registered = {MODELS.get(n) for n in MODELS.list()}
    for folder in zoo.method_packages():
        module = importlib.import_module(f"{zoo.METHODS_PACKAGE}.{folder}.model")
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, AnomalyModel) and obj.__module__ == module.__name__:
                assert obj in registered, f"{module.__name__}.{obj.__name__} is not registered"


def test_every_method_folder_holds_the_test_settings_of_its_models():
    zoo.load_models()
    for folder in zoo.method_packages():
        listed = set(folder_settings(folder))  # raises when a listed name is not registered by the folder
        own = {n for n in MODELS.list() if method_folder(n) == folder}
        assert listed == own, (
            f"zoo/methods/{folder}/testing.py: SETTINGS lists {sorted(listed)}, "
            f"the folder registers {sorted(own)}"
        )
    for name in MODELS.list():
        assert settings_for(name).model == name  # every entry has its keys, every learning case asserts


def test_missing_or_wrong_test_settings_fail_naming_the_file(monkeypatch):
    import sys
    import types

    with pytest.raises(ConfigError, match="unknown model 'dream'"):
        settings_for("dream")
    fake = types.ModuleType("adsynth.zoo.methods.vae.testing")
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    with pytest.raises(SettingsError, match=r"zoo/methods/vae/testing.py has no SETTINGS"):
        settings_for("vae")
    fake.SETTINGS = {"vae": {"contract": {}, "resume": None, "learning": None}, "ae": {}}
    with pytest.raises(
        SettingsError,
        match=r"zoo/methods/vae/testing.py lists 'ae', which zoo/methods/vae/ does not register",
    ):
        settings_for("vae")
    fake.SETTINGS = {"vae": {"contract": {}, "resume": None, "learning": None}}
    with pytest.raises(
        SettingsError, match=r"SETTINGS\['vae'\] needs exactly the keys .*; missing not_exportable"
    ):
        settings_for("vae")
    fake.SETTINGS = {
        "vae": {"contract": {}, "resume": None, "not_exportable": None, "learning": {"a": {"epochs": 1}}}
    }
    with pytest.raises(SettingsError, match=r"\['learning'\]\['a'\] asserts nothing"):
        settings_for("vae")
    fake.SETTINGS = {}
    with pytest.raises(SettingsError, match=r"zoo/methods/vae/testing.py has no settings for model 'vae'"):
        settings_for("vae")
    monkeypatch.setitem(sys.modules, fake.__name__, None)  # the file is missing
    with pytest.raises(SettingsError, match=r"zoo/methods/vae/testing.py is missing"):
        settings_for("vae")


def test_a_package_that_fails_to_import_is_loud(monkeypatch):
    real = importlib.import_module

    def broken(name, *a, **k):
        if name == "adsynth.zoo.methods.vae":
            raise ModuleNotFoundError(
                "No module named 'adsynth.zoo.methods.vae'", name="adsynth.zoo.methods.vae"
            )
        return real(name, *a, **k)

    monkeypatch.setattr(zoo, "_LOADED", False)
    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ImportError, match="zoo method package 'vae' failed to import"):
        zoo.load_models()


def test_one_parameter_check_for_models():
    zoo.load_models()
    with pytest.raises(ConfigError, match=r"model 'ae' has no hyper-parameter 'latnt_dim' \(valid: .*latent"):
        zoo.create_model("ae", latnt_dim=3)
    assert MODELS.params("ae") == zoo.model_hparams("ae")
    assert "pretrained" in MODELS.params("cutpaste-imagenet")  # a partialmethod variant keeps its keywords


def test_duplicate_names_raise():
    with pytest.raises(ValueError, match="already registered"):
        MODELS.register("ae")(type("Again", (AnomalyModel,), {}))


def test_model_names_read_without_importing_are_the_registry_s():
    """``train`` checks a model name from the sources before importing torch: the two lists must agree
    (register a model with ``@register_model("name")``, a string literal)."""
    from adsynth.zoo.precheck import check_model_name, model_names

    zoo.load_models()
    assert model_names() == sorted(MODELS.list())
    with pytest.raises(ConfigError, match="unknown model 'dream'; did you mean draem"):
        check_model_name("dream")


def test_the_model_index_matches_the_live_registry():
    """``adsynth models`` lists from ``zoo/model_index.json`` without importing torch; a stale index
    (a changed attribute, a new or removed model) fails here."""
    from adsynth.zoo.model_index import build_index, read_index

    assert read_index() == build_index(), (
        "zoo/model_index.json is stale: python -m adsynth.zoo.model_index --write"
    )


def test_an_index_that_misses_a_folder_is_not_used(tmp_path):
    import json

    from adsynth.zoo.model_index import INDEX_PATH, read_index

    data = json.loads(INDEX_PATH.read_text())
    data["models"] = [r for r in data["models"] if r["folder"] != "patchcore"]
    (tmp_path / "index.json").write_text(json.dumps(data))
    assert read_index(tmp_path / "index.json") is None
    (tmp_path / "index.json").write_text("{not json")
    assert read_index(tmp_path / "index.json") is None

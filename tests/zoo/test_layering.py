"""The zoo's layering rule (STYLE pattern 12): a method folder stands alone.

Every ``.py`` file of ``src/adsynth/zoo/<method>/`` may import the zoo base, the shared
``adsynth.zoo.components`` package, the zoo-level modules and libraries, but never another method's
folder; ``components`` itself imports no method folder. The check parses the sources with :mod:`ast`
(nothing is imported), resolving relative imports against the file's own package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import adsynth.zoo

ZOO_DIR = Path(adsynth.zoo.__file__).parent
SHARED = "components"


def method_folders(zoo_dir: Path) -> list[str]:
    """The method folders: every package directly under ``zoo_dir`` except the shared components."""
    return sorted(
        p.name for p in zoo_dir.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != SHARED
    )


def _imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of everything a module imports; ``package`` resolves relative imports.

    ``from x import y`` yields both ``x`` and ``x.y``, since ``y`` may itself be a sub-package.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def cross_method_imports(zoo_dir: Path, zoo_package: str = "adsynth.zoo") -> list[str]:
    """Every import, in a method folder or in the components, of a method folder other than its own.

    Returns one ``"<folder>/<file>:<line> imports <module>"`` line per offending import statement
    (the shortest offending name), empty when the layering holds.
    """
    methods = method_folders(zoo_dir)
    prefix = zoo_package.split(".")
    problems: dict[str, str] = {}
    for folder in [*methods, SHARED]:
        root = zoo_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(zoo_dir).with_suffix("")
            parts = list(rel.parts)
            # A module's package: its folder; a package's __init__ is its own package.
            package = ".".join([zoo_package, *(parts[:-1] if parts[-1] != "__init__" else parts[:-1])])
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, name in _imported_modules(tree, package):
                head = name.split(".")
                if head[: len(prefix)] != prefix or len(head) <= len(prefix):
                    continue
                target = head[len(prefix)]
                where = f"{'/'.join(rel.parts)}.py:{line}"
                if (
                    target in methods
                    and target != folder
                    and len(name) < len(problems.get(where, name + "."))
                ):
                    problems[where] = name
    return [f"{where} imports {name}" for where, name in sorted(problems.items())]


def test_every_method_folder_stands_alone():
    assert method_folders(ZOO_DIR), "no method folders found"
    assert cross_method_imports(ZOO_DIR) == []


def _fake_zoo(tmp_path: Path, sources: dict[str, str]) -> Path:
    zoo = tmp_path / "zoo"
    for folder in ("riad", "smai", SHARED):
        (zoo / folder).mkdir(parents=True)
        (zoo / folder / "__init__.py").write_text("")
    (zoo / "base.py").write_text("")
    for rel, text in sources.items():
        (zoo / rel).write_text(text)
    return zoo


def test_the_check_catches_absolute_relative_and_plain_imports_of_another_method(tmp_path):
    zoo = _fake_zoo(
        tmp_path,
        {
            "smai/model.py": "from adsynth.zoo.riad.model import UNet\n"
            "from ..riad import loss\n"
            "import adsynth.zoo.riad\n"
            "from adsynth.zoo import riad\n"
            "from .. import riad as r\n",
            "components/unet.py": "from adsynth.zoo.smai.model import x\n",
        },
    )
    assert cross_method_imports(zoo) == [
        "components/unet.py:1 imports adsynth.zoo.smai.model",
        "smai/model.py:1 imports adsynth.zoo.riad.model",
        "smai/model.py:2 imports adsynth.zoo.riad",
        "smai/model.py:3 imports adsynth.zoo.riad",
        "smai/model.py:4 imports adsynth.zoo.riad",
        "smai/model.py:5 imports adsynth.zoo.riad",
    ]


def test_the_check_allows_the_base_the_components_and_the_own_folder(tmp_path):
    zoo = _fake_zoo(
        tmp_path,
        {
            "smai/model.py": "from adsynth.zoo.base import AnomalyModel\n"
            "from adsynth.zoo.components.unet import UNet\n"
            "from adsynth.zoo import components, create_model\n"
            "from adsynth.zoo.smai.loss import smai_loss\n"
            "from . import loss\n"
            "from .loss import smai_loss as f\n"
            "import torch\n",
            "smai/__init__.py": "from .model import Smai\n",
            "smai/loss.py": "from ..components import blur\n",
        },
    )
    assert cross_method_imports(zoo) == []

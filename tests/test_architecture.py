"""The documented rules of docs/ARCHITECTURE.md, checked on the sources with :mod:`ast` (nothing is imported).

One walker (:func:`imports`) finds every import of an ``adsynth`` module: top level or inside functions,
relative ones resolved, ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name;
only ``if TYPE_CHECKING:`` blocks are left out, since they never run. On its graph:

* The packages are layered: a package imports only packages of a lower layer, so data flows one way (synth
  never imports the zoo: the OGNet generator takes a plain reconstruction function).
* A method folder of the zoo stands alone (STYLE pattern 12): no module of the zoo imports a method folder
  (``zoo/methods/<method>/``) other than its own; the zoo's infrastructure (``components``, ``training``,
  ``deploy``, the zoo-level modules) imports none.
* The test settings stay out of the package: no module imports ``adsynth.zoo.testing`` or a method's
  ``testing.py`` (only tests read them).
* No import cycle between the modules of ``adsynth``.
* No file in ``src/`` is over 500 lines.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import adsynth

SRC = Path(adsynth.__file__).parent
MAX_LINES = 500

#: Lowest first: a package may import the packages of lower layers only (and ``adsynth`` itself, for
#: ``__version__``).
LAYERS: list[set[str]] = [
    {"errors"},
    {"_validation", "registry", "fsutil", "progress"},
    {"data"},
    {"synth", "evaluate"},
    {"zoo"},
    {"realism"},
    {"benchmark", "pipeline"},
    {"cli"},
    {"__main__"},
]


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def imports(tree: ast.AST, module: str, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) of every ``adsynth`` module imported anywhere in ``tree``, relative imports
    resolved; ``from a import b`` names ``a.b`` when that is a module of ``known``, else ``a``; a call of
    ``import_module`` or ``__import__`` names its literal first argument."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _is_type_checking(node):
            continue
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found += [
                (node.lineno, f"{base}.{a.name}" if f"{base}.{a.name}" in known else base) for a in node.names
            ]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found += [(node.lineno, a.value) for a in node.args[:1] if isinstance(a, ast.Constant)]
    return [(line, name) for line, name in found if name == "adsynth" or name.startswith("adsynth.")]


def import_graph(src: Path = SRC) -> dict[str, list[tuple[int, str]]]:
    paths = {module_name(p, src): p for p in sorted(src.rglob("*.py"))}
    known = set(paths)
    return {
        m: imports(ast.parse(p.read_text(encoding="utf-8")), m, p.name == "__init__.py", known)
        for m, p in paths.items()
    }


def layer_offences(graph: dict[str, list[tuple[int, str]]]) -> list[str]:
    layer_of = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
    out = []
    for module, found in graph.items():
        own = module.split(".")[1] if "." in module else None
        for line, name in found:
            target = name.split(".")[1] if "." in name else None
            if own is None or target is None or own == target:
                continue
            if layer_of.get(target, len(LAYERS)) >= layer_of.get(own, -1):
                out.append(f"{module}:{line} imports {name} (layer of {target} is not below {own})")
    return out


def zoo_offences(graph: dict[str, list[tuple[int, str]]], src: Path = SRC) -> list[str]:
    """Every import, by a module of the zoo, of a method folder other than its own (the infrastructure has
    none); and every import of the test settings (``adsynth.zoo.testing``,
    ``adsynth.zoo.methods.<method>.testing``)."""
    zoo = [src.name, "zoo"]
    methods = {p.parent.name for p in (src / "zoo" / "methods").glob("*/__init__.py")}

    def method_of(parts: list[str]) -> str | None:
        inside = parts[:3] == [*zoo, "methods"] and len(parts) > 3 and parts[3] in methods
        return parts[3] if inside else None

    out: list[tuple[str, int, str]] = []
    for module, found in graph.items():
        parts = module.split(".")
        own = method_of(parts)
        for line, name in found:
            target = name.split(".")
            if target[:2] != zoo or len(target) < 3:
                continue
            if target[-1] == "testing" and (len(target) == 3 or method_of(target) is not None):
                out.append((module, line, f"{name} (test settings are read by tests only)"))
            elif parts[:2] == zoo and method_of(target) not in (None, own):
                out.append((module, line, f"{name} (a method folder stands alone)"))
    return [f"{module}:{line} imports {what}" for module, line, what in sorted(out)]


def cycles(graph: dict[str, list[tuple[int, str]]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    edges = defaultdict(set)
    for module, found in graph.items():
        edges[module] |= {name for _, name in found if name in graph and name != module}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_package_is_in_a_layer():
    top = {module_name(p).split(".")[1] for p in SRC.rglob("*.py") if p.parent != SRC or p.stem != "__init__"}
    assert top <= set().union(*LAYERS), top - set().union(*LAYERS)


def test_packages_import_only_lower_layers():
    assert layer_offences(import_graph()) == []


def test_every_method_folder_stands_alone_and_test_settings_stay_out():
    assert len(list((SRC / "zoo" / "methods").glob("*/testing.py"))) >= 17, "no method folders found"
    assert zoo_offences(import_graph()) == []


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_no_source_file_is_over_500_lines():
    long = {
        str(p.relative_to(SRC)): n
        for p in sorted(SRC.rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def _fake_src(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "adsynth"
    for rel, text in {"__init__.py": "", **files}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    for pkg in {p.parent for p in src.rglob("*.py")}:
        (pkg / "__init__.py").touch()
    return src


def test_the_checks_see_lazy_relative_dynamic_and_cyclic_imports(tmp_path):
    src = _fake_src(
        tmp_path,
        {
            "data/reader.py": "def f():\n    from adsynth.zoo import base\n",
            "zoo/base.py": "from ..data import reader\n",
            "synth/a.py": "from adsynth.synth import b\n",
            "synth/b.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from adsynth.synth import a\n",
            "synth/ognet.py": "def f():\n    importlib.import_module('adsynth.zoo.base')\n"
            "    __import__('adsynth.zoo')\n    importlib.import_module(name)\n",
            "evaluate/x.py": "from . import y\n",
            "evaluate/y.py": "import adsynth.evaluate.x\n",
        },
    )
    graph = import_graph(src)
    assert sorted(layer_offences(graph)) == [
        "adsynth.data.reader:2 imports adsynth.zoo.base (layer of zoo is not below data)",
        "adsynth.synth.ognet:2 imports adsynth.zoo.base (layer of zoo is not below synth)",
        "adsynth.synth.ognet:3 imports adsynth.zoo (layer of zoo is not below synth)",
    ]
    assert cycles(graph) == [
        ["adsynth.data.reader", "adsynth.zoo.base"],
        ["adsynth.evaluate.x", "adsynth.evaluate.y"],
    ]


def _fake_zoo(tmp_path: Path, sources: dict[str, str]) -> Path:
    folders = ("methods/riad", "methods/smai", "components", "training", "deploy")
    files = {f"zoo/{folder}/__init__.py": "" for folder in folders}
    return _fake_src(tmp_path, {**files, "zoo/base.py": "", "zoo/testing.py": "", **sources})


def test_the_zoo_check_catches_imports_of_another_method_and_of_test_settings(tmp_path):
    src = _fake_zoo(
        tmp_path,
        {
            "zoo/methods/smai/model.py": "from adsynth.zoo.methods.riad.model import UNet\n"
            "from ..riad import loss\n"
            "import adsynth.zoo.methods.riad\n"
            "from adsynth.zoo.methods import riad\n"
            "from .. import riad as r\n",
            "zoo/methods/riad/model.py": "",
            "zoo/methods/riad/loss.py": "",
            "zoo/methods/riad/testing.py": "",
            "zoo/components/unet.py": "from adsynth.zoo.methods.smai.model import x\n",
            "zoo/training/loop.py": "def f():\n    from adsynth.zoo.methods.riad import model\n",
            "zoo/trainer.py": "from adsynth.zoo import testing\n",
            "zoo/deploy/predict.py": "from ..methods.riad.model import Riad\n",
            "zoo/checkpoint.py": "import adsynth.zoo.methods.smai\n",
            "cli/train.py": "def f():\n    from adsynth.zoo.methods.riad.testing import SETTINGS\n",
        },
    )
    alone = "a method folder stands alone"
    assert zoo_offences(import_graph(src), src) == [
        "adsynth.cli.train:2 imports adsynth.zoo.methods.riad.testing (test settings are read by tests only)",
        f"adsynth.zoo.checkpoint:1 imports adsynth.zoo.methods.smai ({alone})",
        f"adsynth.zoo.components.unet:1 imports adsynth.zoo.methods.smai.model ({alone})",
        f"adsynth.zoo.deploy.predict:1 imports adsynth.zoo.methods.riad.model ({alone})",
        f"adsynth.zoo.methods.smai.model:1 imports adsynth.zoo.methods.riad.model ({alone})",
        f"adsynth.zoo.methods.smai.model:2 imports adsynth.zoo.methods.riad.loss ({alone})",
        f"adsynth.zoo.methods.smai.model:3 imports adsynth.zoo.methods.riad ({alone})",
        f"adsynth.zoo.methods.smai.model:4 imports adsynth.zoo.methods.riad ({alone})",
        f"adsynth.zoo.methods.smai.model:5 imports adsynth.zoo.methods.riad ({alone})",
        "adsynth.zoo.trainer:1 imports adsynth.zoo.testing (test settings are read by tests only)",
        f"adsynth.zoo.training.loop:2 imports adsynth.zoo.methods.riad.model ({alone})",
    ]


def test_the_zoo_check_allows_the_base_the_components_and_the_own_folder(tmp_path):
    src = _fake_zoo(
        tmp_path,
        {
            "zoo/methods/smai/model.py": "from adsynth.zoo.base import AnomalyModel\n"
            "from adsynth.zoo.components.unet import UNet\n"
            "from adsynth.zoo import components, create_model\n"
            "from adsynth.zoo.methods.smai.loss import smai_loss\n"
            "from . import loss\n"
            "from .loss import smai_loss as f\n"
            "import torch\n",
            "zoo/methods/smai/__init__.py": "from .model import Smai\n",
            "zoo/methods/smai/loss.py": "from ...components import blur\n",
            "zoo/deploy/predict.py": "from adsynth.zoo import methods\nfrom ..checkpoint import read\n",
            "zoo/checkpoint.py": "",
            "zoo/components/unet.py": "",
            "zoo/components/blur.py": "",
        },
    )
    assert zoo_offences(import_graph(src), src) == []

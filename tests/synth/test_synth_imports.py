"""synth sits below the zoo: no module of ``adsynth.synth`` imports ``adsynth.zoo`` (not even lazily).

A generator that needs a trained model (``ognet``) takes a plain function; the zoo side
(``adsynth.zoo.checkpoint.load_reconstructor``) turns a checkpoint into it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import adsynth.synth

SYNTH = Path(adsynth.synth.__file__).parent
FORBIDDEN = "adsynth.zoo"


def _imports(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """Every module named by an import statement (top level or inside functions), resolved if relative."""
    package = module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found += [(node.lineno, a.value) for a in node.args[:1] if isinstance(a, ast.Constant)]
    return found


def _offences() -> list[str]:
    out = []
    for path in sorted(SYNTH.rglob("*.py")):
        rel = path.relative_to(SYNTH.parent).with_suffix("")
        module = "adsynth." + ".".join(rel.parts)
        for line, name in _imports(ast.parse(path.read_text(encoding="utf-8")), module):
            if name == FORBIDDEN or name.startswith(FORBIDDEN + "."):
                out.append(f"{path.name}:{line} imports {name}")
    return out


def test_no_synth_module_imports_the_zoo():
    assert list(SYNTH.rglob("*.py")), "no synth modules found"
    assert _offences() == []


def test_the_check_sees_lazy_relative_and_dynamic_imports():
    code = (
        "def f():\n"
        "    from adsynth.zoo.checkpoint import load_reconstructor\n"
        "    from ..zoo import create_model\n"
        "    import adsynth.zoo.predict\n"
        "    importlib.import_module('adsynth.zoo')\n"
    )
    names = [n for _, n in _imports(ast.parse(code), "adsynth.synth.ognet")]
    assert sum(n == FORBIDDEN or n.startswith(FORBIDDEN + ".") for n in names) >= 4

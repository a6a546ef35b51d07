"""Every module of the package imports on its own, in a fresh interpreter, and no two modules
import each other (at import time or inside functions): an import cycle makes the import order
matter and hides which module owns what."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "circuit2mlp"
OPTIONAL = {"circuit2mlp.torch_module", "circuit2mlp.hooked"}  # need PyTorch


def _modules() -> list[str]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def _imports(module: str, known: set[str]) -> set[str]:
    """The package modules ``module`` imports anywhere in its text."""
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known and n != module}
    return found


def test_no_import_cycles() -> None:
    known = set(_modules())
    graph = {m: _imports(m, known) for m in known}
    # a package and its own members (registries, re-exports) are one unit here
    for m in graph:
        graph[m] = {n for n in graph[m] if not n.startswith(m + ".") and not m.startswith(n + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycle = [*stack[stack.index(n) :], n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_each_module_imports_alone() -> None:
    modules = [m for m in _modules() if m not in OPTIONAL]
    try:
        import torch  # noqa: F401

        modules += sorted(OPTIONAL)
    except ImportError:
        pass
    script = (
        "import subprocess, sys\n"
        "bad = []\n"
        "for m in sys.argv[1:]:\n"
        "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True,"
        " text=True)\n"
        "    if r.returncode:\n"
        "        bad.append(m + ': ' + (r.stderr.strip().splitlines() or ['?'])[-1])\n"
        "print('\\n'.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *modules],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert result.stdout.strip() == "", result.stdout

"""The layers of docs/architecture.md, enforced: the core never imports an interface, the
catalog imports no model of computation, the simulator knows nothing of the planner."""

import ast

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "canserve"
INTERFACES = ("canserve.cli", "canserve.web", "canserve.report", "canserve.services")
CORE = [
    "arch",
    "catalog",
    "perf",
    "sim",
    "plan",
    "deploy",
    "memory.py",
    "kv.py",
    "weights.py",
    "capacity.py",
    "economics.py",
    "serving.py",
    "queries.py",
    "validation.py",
    "units.py",
    "errors.py",
    "jsonable.py",
    "gguf_recipes.py",
]
RULES = {
    # (package or module, imports it must not make)
    "catalog": ("canserve.memory", "canserve.perf", "canserve.sim", "canserve.plan"),
    "arch": ("canserve.memory", "canserve.perf", "canserve.sim", "canserve.plan"),
    "sim": ("canserve.plan", "canserve.economics", "canserve.deploy"),
    "perf": ("canserve.sim", "canserve.plan"),
}


def _modules(entry: str) -> list:
    path = PACKAGE / entry
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _imports(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("entry", CORE)
def test_core_never_imports_an_interface(entry):
    for path in _modules(entry):
        bad = {m for m in _imports(path) if m.startswith(INTERFACES)}
        assert not bad, (path.relative_to(PACKAGE), bad)


@pytest.mark.parametrize(("entry", "forbidden"), RULES.items())
def test_lower_layers_do_not_reach_up(entry, forbidden):
    for path in _modules(entry):
        bad = {m for m in _imports(path) if m.startswith(forbidden)}
        assert not bad, (path.relative_to(PACKAGE), bad)

"""The package's shape as a specification: no import cycle (function-level imports and the
model registry's import strings included), old import paths still work, one linter clean."""
from __future__ import annotations

import ast
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mgbarrier"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _import_graph() -> dict:
    """module -> set of mgbarrier modules it imports anywhere in its body (not only at the top)."""
    mods = _modules()
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        base = mod if is_pkg else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    anchor = base.split(".")
                    anchor = anchor[:len(anchor) - (node.level - 1)]
                    src = ".".join(anchor + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                subs = [f"{src}.{a.name}" for a in node.names]
                # ``from . import x`` inside a package imports x, not the package again
                targets = subs if (node.level and not node.module) else [src] + subs
            for t in targets:
                if t in mods and t != mod:
                    graph[mod].add(t)
    registry = importlib.import_module("mgbarrier.models.registry")
    for target in registry.KINDS.values():  # resolved lazily, but an edge all the same
        graph["mgbarrier.models.registry"].add(target.split(":")[0])
    return graph


def _shims() -> set:
    return {m for m, p in _modules().items() if p.read_text().startswith('"""Moved')}


def test_no_import_cycle_anywhere_in_the_package():
    graph = _import_graph()
    shims = _shims()
    # package __init__ files only re-export: leave them out, as Python imports them anyway
    graph = {m: {t for t in ts if t not in shims} for m, ts in graph.items() if m not in shims}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:5])


def test_nothing_inside_the_package_imports_an_old_path():
    graph = _import_graph()
    shims = _shims()
    users = {m: sorted(ts & shims) for m, ts in graph.items() if m not in shims and ts & shims}
    assert not users, f"modules importing moved paths: {users}"


@pytest.mark.parametrize("old, name", [("mgbarrier.predictor", "load_model"), ("mgbarrier.structures", "atomic_write"),
                                       ("mgbarrier.model", "SymGNNConfig"), ("mgbarrier.descriptor", "Featurizer"),
                                       ("mgbarrier.training", "train"), ("mgbarrier.symgnn_data", "read_symgnn_pickle"),
                                       ("mgbarrier.predict_files", "predict_file"), ("mgbarrier.cli", "main")])
def test_old_import_paths_keep_working(old, name):
    assert callable(getattr(importlib.import_module(old), name))


def test_unknown_model_kind_is_refused_by_the_registry():
    from mgbarrier.errors import MgBarrierError
    from mgbarrier.models.registry import predictor_class

    with pytest.raises(MgBarrierError, match="unknown model kind 'bogus'"):
        predictor_class("bogus", "m.pt")


def test_missing_optional_package_is_both_our_error_and_an_import_error():
    from mgbarrier.errors import MgBarrierError, MissingDependencyError, require

    with pytest.raises(MissingDependencyError) as exc:
        require("surely_not_installed_pkg_xyz", "descriptor", "testing")
    assert isinstance(exc.value, MgBarrierError) and isinstance(exc.value, ImportError)
    assert "pip install 'mgbarrier[descriptor]'" in str(exc.value)


def test_linter_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install 'mgbarrier[test]')")
    root = PKG.parent
    res = subprocess.run([ruff, "check", "mgbarrier", "tests", "benchmarks", "ovito_modifier", "lammps_examples"],
                         cwd=root, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-3000:]


def test_import_mgbarrier_does_not_import_torch():
    code = "import sys, mgbarrier; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"

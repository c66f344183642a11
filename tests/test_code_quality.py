"""The codebase stays lint-clean and its layers only point down."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

PACKAGE = REPO / "basecaller"
# The floor plan, bottom first: a module may import from its own row and the rows below it,
# never from a row above (same-row imports are kept acyclic by the cycle test).
LAYERS = (
    ("basecaller", "errors", "alphabet", "precision", "device", "io", "signal", "ctc", "crf"),
    ("nn",),
    ("models",),
    ("data",),
    ("training", "inference", "simulate", "evaluate"),
    ("tasks", "live"),
    ("cli", "__main__"),
)
RANK = {part: row for row, parts in enumerate(LAYERS) for part in parts}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path) -> set[str]:
    """Every basecaller module ``path`` imports, at module level or inside functions; ``from
    package import submodule`` counts as importing the submodule."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES.keys()
            names.update(submodules)
            if len(submodules) < len(node.names):
                names.add(node.module)
    return {name for name in names if name == "basecaller" or name.startswith("basecaller.")}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "basecaller"


def _graph() -> dict[str, set[str]]:
    return {module: {name for name in _imports(path) if name in MODULES} for module, path in MODULES.items()}


def test_every_module_has_a_layer():
    assert not [module for module in MODULES if _layer(module) not in RANK]


def test_layers_only_import_downwards():
    offenders = [f"{module} (row {RANK[_layer(module)]}) imports {name} (row {RANK[_layer(name)]})"
                 for module, path in MODULES.items() for name in _imports(path)
                 if RANK.get(_layer(name), 0) > RANK[_layer(module)]]
    assert not offenders, offenders


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for name in sorted(graph[module]):
            if state.get(name) == 1:
                return path[path.index(name):] + [name]
            if name not in state and (found := visit(name)):
                return found
        state[module] = 2
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_old_homes_are_gone():
    for old in ("basecall", "run_basecall", "train_ctc", "calls", "pipeline", "tasks/fit", "training/device"):
        assert not (PACKAGE / f"{old}.py").exists(), old


def test_no_module_outside_nn_defines_a_recurrent_layer():
    offenders = [str(path.relative_to(REPO)) for path in PACKAGE.rglob("*.py")
                 if "nn" not in path.relative_to(PACKAGE).parts[:1]
                 and any(token in path.read_text() for token in ("nn.LSTM(", "nn.GRU(", "nn.RNN(", "LSTMCell(", "GRUCell("))]
    assert not offenders, offenders


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "basecaller", "tests", "benchmarks", "data_samples"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_help_is_instant_and_lists_every_subcommand():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "basecaller", "--help"], capture_output=True,
                            text=True)
    assert result.returncode == 0
    for command in ("basecall", "evaluate", "chunks", "train", "simulate", "convert", "export"):
        assert f"    {command}" in result.stdout
    assert "torch" not in {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()[1:]}

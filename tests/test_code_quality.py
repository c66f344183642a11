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
# Lower layers may not import from the ones above them.
FORBIDDEN = {
    "io": ("basecaller.nn", "basecaller.models", "basecaller.training", "basecaller.cli", "basecaller.basecall"),
    "signal": ("basecaller.nn", "basecaller.models", "basecaller.training", "basecaller.cli", "basecaller.io.pod5"),
    "nn": ("basecaller.models", "basecaller.cli", "basecaller.basecall", "basecaller.tasks", "basecaller.data"),
    "ctc": ("basecaller.nn", "basecaller.models", "basecaller.cli"),
    "crf": ("basecaller.nn", "basecaller.models", "basecaller.cli", "basecaller.training", "basecaller.basecall"),
    "training": ("basecaller.models", "basecaller.cli", "basecaller.tasks"),
    "models": ("basecaller.cli",),
    "data": ("basecaller.cli",),
    "simulate": ("basecaller.cli", "basecaller.nn", "basecaller.models"),
    "tasks": ("basecaller.cli",),
    "live": ("basecaller.cli",),
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_only_import_downwards(layer):
    folder = PACKAGE / layer
    offenders = [f"{path.relative_to(REPO)} imports {name}" for path in folder.rglob("*.py")
                 for name in _imports(path) if name.startswith(FORBIDDEN[layer])]
    assert not offenders, offenders


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

"""Shared test fixtures: where the real data lives, and a skip marker when it is absent."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("BASECALLER_SHARED_DATA", REPO.parent / "shared" / "data"))
DATA_SAMPLES = REPO / "data_samples"

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is not available")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


def pytest_configure(config):
    """One torch thread: on a busy 2-core machine, OpenMP threads contending for cores make
    recurrent layers many times slower; subprocesses inherit OMP_NUM_THREADS. The ONNX exports
    of the run go to a temporary cache, not the user's."""
    import tempfile

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["BASECALLER_CACHE"] = tempfile.mkdtemp(prefix="basecaller-test-cache-")
    import torch

    torch.set_num_threads(1)


def benchmark_module(name: str):
    """A script of benchmarks/ imported as a module (its helpers are what some tests check)."""
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    return importlib.import_module(name)

"""Every Python example in README.md that needs no ../shared runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
RUNNABLE = [block for block in BLOCKS if "../shared" not in block]


def test_readme_has_runnable_python_examples():
    assert len(RUNNABLE) >= 2


@pytest.mark.parametrize("index", range(len(RUNNABLE)))
def test_readme_python_block_runs(index):
    result = subprocess.run([sys.executable, "-c", RUNNABLE[index]], cwd=REPO, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]

"""Atomic folders: build a folder beside its final place, then rename it in (whole or not at all)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_directory"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_directory(folder: str | os.PathLike, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Yield a staging folder; on success it replaces ``folder`` (carrying over the entries
    named in ``keep`` from the old one, e.g. ``checkpoints``), on failure it is removed. The
    folder gets the usual permissions (0777 less the umask), not mkdtemp's private 0700."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        staging.chmod(0o777 & ~_umask())
        yield staging
        if folder.exists():
            for name in keep:
                if (folder / name).exists() and not (staging / name).exists():
                    shutil.move(str(folder / name), staging / name)
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

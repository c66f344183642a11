"""A per-step metrics log, one JSON object a line, that a resumed run cuts back and continues."""

from __future__ import annotations

import json
import os
from pathlib import Path

from basecaller.io.writers import atomic_path

__all__ = ["MetricsLog", "read_metrics"]


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """All records of a JSONL metrics log."""
    with open(path) as stream:
        return [json.loads(line) for line in stream if line.strip()]


class MetricsLog:
    """Appends records (dicts with a "step") to ``path``; ``path`` None keeps them in memory only."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = None if path is None else Path(path)
        self.records: list[dict] = []

    def write(self, record: dict) -> None:
        self.records.append(record)
        if self.path is not None:
            with open(self.path, "a") as stream:
                stream.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop records after ``step`` (written after the checkpoint a run resumes from)."""
        kept = [] if self.path is None or not self.path.exists() else read_metrics(self.path)
        self.records = [record for record in kept if record["step"] <= step]
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.path) as temporary:
                temporary.write_text("".join(json.dumps(r) + "\n" for r in self.records))

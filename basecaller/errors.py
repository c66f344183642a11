"""Errors that reach the user as one line, and a tally of skipped reads."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field


class BasecallerError(Exception):
    """An error the CLI reports as a single line, without a traceback."""


class InputError(BasecallerError):
    """Bad input: a missing path, an unknown format, an unreadable file or read."""

    def __init__(self, message: str, path: str | None = None, read_id: str | None = None):
        self.message = message
        self.path = path
        self.read_id = read_id
        where = ", ".join(part for part in (path and f"file {path}", read_id and f"read {read_id}") if part)
        super().__init__(f"{where}: {message}" if where else message)

    def __reduce__(self):  # survives pickling (errors cross from isolated reader processes)
        return (type(self), (self.message, self.path, self.read_id))


@dataclass
class SkipLog:
    """Counts reads and files skipped for bad input, and reports each in one line."""

    quiet: bool = False
    max_lines_per_reason: int = 10
    reasons: Counter = field(default_factory=Counter)

    def skip(self, error: InputError | str, reason: str = "bad input") -> None:
        self.reasons[reason] += 1
        if self.quiet or self.reasons[reason] > self.max_lines_per_reason:
            return
        print(f"skipped: {error}", file=sys.stderr)
        if self.reasons[reason] == self.max_lines_per_reason:
            print(f"skipped: further '{reason}' reads are counted, not listed", file=sys.stderr)

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def summary(self) -> str:
        if not self.total:
            return "skipped 0 reads"
        parts = ", ".join(f"{count} {reason}" for reason, count in sorted(self.reasons.items()))
        return f"skipped {self.total} ({parts})"

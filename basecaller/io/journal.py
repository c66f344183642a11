"""A durable journal of finished calls, so that an interrupted basecall loses nothing.

While a run writes ``OUT`` (through a temporary file), every finished read is also appended to
``OUT.journal`` as one JSON line and flushed at once: the operating system keeps it whatever
kills the process (SIGKILL included), and it is fsync'ed at least every ``sync_every_s`` seconds
against power loss. ``--resume`` reads the journal back (a torn last line is dropped), writes
its records into the new output and calls only the rest. A run that completes renames its
output into place and then deletes the journal.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from basecaller.errors import InputError
from basecaller.io.records import CalledRead

__all__ = ["CallJournal", "journal_path"]

_FIELDS = ("read_id", "sequence", "stride", "mean_qscore", "num_samples", "trimmed_samples", "duration_s",
           "start_time_s", "channel", "run_id", "read_group", "sample_rate_hz", "filename")


def journal_path(output: str | os.PathLike) -> Path:
    return Path(f"{output}.journal")


def _encode(call: CalledRead, written: bool) -> str:
    record = {name: getattr(call, name) for name in _FIELDS}
    record["qstring"] = call.qstring
    record["moves"] = None if call.moves is None else call.moves.astype(np.uint8).tobytes().hex()
    record["written"] = written
    return json.dumps(record, separators=(",", ":")) + "\n"


def _decode(line: str) -> tuple[CalledRead, bool]:
    record = json.loads(line)
    qualities = np.frombuffer(record.pop("qstring").encode(), dtype=np.uint8) - 33
    moves = record.pop("moves")
    written = bool(record.pop("written"))
    moves = None if moves is None else np.frombuffer(bytes.fromhex(moves), dtype=np.uint8)
    return CalledRead(qualities=qualities, moves=moves, **record), written


class CallJournal:
    """Append-only, line-per-read journal beside an output file."""

    def __init__(self, output: str | os.PathLike, sync_every_s: float = 1.0):
        self.path = journal_path(output)
        self.sync_every_s = sync_every_s
        self._file = None
        self._last_sync = 0.0

    def exists(self) -> bool:
        return self.path.exists()

    def recover(self) -> list[tuple[CalledRead, bool]]:
        """The complete records of an earlier run, as (call, written to the output); the
        journal is cut back to them, so that appending continues after the last whole line."""
        if not self.path.exists():
            return []
        records, good_bytes = [], 0
        try:
            with open(self.path, "rb") as handle:
                for raw in handle:
                    if not raw.endswith(b"\n"):
                        break  # torn by the interruption
                    try:
                        records.append(_decode(raw.decode()))
                    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
                        break
                    good_bytes += len(raw)
            os.truncate(self.path, good_bytes)
        except OSError as error:
            raise InputError(f"cannot read the journal of the earlier run ({error.strerror})", str(self.path)) from None
        return records

    def open(self) -> CallJournal:
        self._file = open(self.path, "a", encoding="utf-8")
        self._last_sync = time.monotonic()
        return self

    def append(self, call: CalledRead, written: bool = True) -> None:
        self._file.write(_encode(call, written))
        self._file.flush()  # in the kernel now: survives the death of this process
        if time.monotonic() - self._last_sync >= self.sync_every_s:
            os.fsync(self._file.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

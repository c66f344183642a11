"""One entry point for raw-signal input: files or directory trees of mixed formats."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from basecaller.errors import InputError, SkipLog
from basecaller.io.read import Read

__all__ = ["FORMATS", "find_signal_files", "detect_format", "check_container", "open_reads", "validate_read",
           "load_read_ids"]

FORMATS = {".pod5": "pod5", ".fast5": "fast5", ".slow5": "slow5", ".blow5": "slow5"}


def detect_format(path: str | os.PathLike) -> str:
    """The format of a signal file, from its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"unknown signal format {suffix or '(no extension)'!r}; expected one of "
                         f"{', '.join(sorted(FORMATS))}", str(path))
    return FORMATS[suffix]


_POD5_SIGNATURE = b"\x8bPOD\r\n\x1a\n"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_BLOW5_MAGIC, _BLOW5_EOF = b"BLOW5\x01", b"5WOLB"
_SLOW5_MAGIC = b"#slow5_version"


def _ends(path: str, size: int) -> tuple[bytes, bytes]:
    with open(path, "rb") as handle:
        head = handle.read(1024)
        handle.seek(max(0, size - 8))
        return head, handle.read(8)


def check_container(path: str | os.PathLike) -> None:
    """Raise InputError for a file that is not a whole file of its format (empty, wrong magic
    bytes, no end marker), before any C library opens it."""
    path = str(path)
    fmt = detect_format(path)
    try:
        size = os.path.getsize(path)
        head, tail = _ends(path, size) if size else (b"", b"")
    except OSError as error:
        raise InputError(f"cannot open file ({error.strerror})", path) from None
    if size == 0:
        raise InputError("empty file", path)
    if fmt == "pod5" and not (head.startswith(_POD5_SIGNATURE) and tail == _POD5_SIGNATURE):
        raise InputError("not a complete pod5 file (signature missing at its start or end: truncated or "
                         "another format)", path)
    if fmt == "fast5" and not (head.startswith(_HDF5_SIGNATURE) or head[512:520] == _HDF5_SIGNATURE):
        raise InputError("not an HDF5 (fast5) file (wrong magic bytes)", path)
    if fmt == "slow5" and path.lower().endswith(".blow5") and not (head.startswith(_BLOW5_MAGIC)
                                                                  and tail.endswith(_BLOW5_EOF)):
        raise InputError("not a complete blow5 file (magic number or end-of-file marker missing: truncated or "
                         "another format)", path)
    if fmt == "slow5" and path.lower().endswith(".slow5") and not head.startswith(_SLOW5_MAGIC):
        raise InputError("not a slow5 file (no #slow5_version header)", path)


def find_signal_files(paths: Iterable[str | os.PathLike], skips: SkipLog | None = None) -> list[str]:
    """Expand files and directories (recursively) into a sorted list of signal files.

    A missing path or a file of unknown format is reported through ``skips`` (or raised
    when ``skips`` is None); files of other formats inside directories are ignored.
    """
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        try:
            found.extend(_expand(path))
        except InputError as error:
            if skips is None:
                raise
            skips.skip(error, "unusable path")
    return found


def _expand(path: Path) -> list[str]:
    if path.is_dir():
        return sorted(str(p) for p in path.rglob("*")
                      if p.suffix.lower() in FORMATS and not p.name.startswith(".") and p.is_file())
    if not path.exists():
        raise InputError("no such file or directory", str(path))
    detect_format(path)
    return [str(path)]


def _iter_file(path: str, read_ids: set[str] | None) -> Iterator[Read | InputError]:
    """The reads of one file, decoded in an isolated child process (``io.isolate``)."""
    from basecaller.io.isolate import isolated_items

    check_container(path)
    return isolated_items(lambda: _iter_file_here(path, read_ids), path, detect_format(path))


def _iter_file_here(path: str, read_ids: set[str] | None) -> Iterator[Read | InputError]:
    fmt = detect_format(path)
    if fmt == "pod5":
        from basecaller.io.pod5 import iter_pod5_reads as reader
    elif fmt == "fast5":
        from basecaller.io.fast5 import iter_fast5_reads as reader
    else:
        from basecaller.io.slow5 import iter_slow5_reads as reader
    return reader(path, read_ids)


def validate_read(read: Read) -> Read:
    """Raise InputError for a read with no signal or with non-finite samples."""
    if read.num_samples == 0:
        raise InputError("read has no signal", read.source_path, read.read_id)
    if not np.isfinite(read.scale_pa_per_dac) or not np.isfinite(read.offset_dac):
        raise InputError("non-finite calibration", read.source_path, read.read_id)
    signal = np.asarray(read.signal_dac)
    if signal.dtype.kind == "f" and not np.isfinite(signal).all():
        raise InputError("signal holds NaN or infinite samples", read.source_path, read.read_id)
    if signal.min() == signal.max():
        raise InputError(f"signal is constant (every sample is {signal[0]})", read.source_path, read.read_id)
    if read.scale_pa_per_dac == 0:
        raise InputError("calibration scale is zero", read.source_path, read.read_id)
    if read.sample_rate_hz <= 0:
        raise InputError("sample rate is not positive", read.source_path, read.read_id)
    return read


def open_reads(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    read_ids: Iterable[str] | None = None,
    min_samples: int = 0,
    skips: SkipLog | None = None,
) -> Iterator[Read]:
    """Stream every good read from files or directories of pod5, fast5 and slow5/blow5.

    Reads are yielded one at a time (memory stays bounded). A missing path, an unreadable
    file or a bad read is reported in one line, counted in ``skips``, and passed over.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    skips = skips if skips is not None else SkipLog()
    wanted = set(read_ids) if read_ids is not None else None
    for path in find_signal_files(paths, skips):
        yield from _reads_of_file(path, wanted, min_samples, skips)


def _reads_of_file(path: str, wanted: set[str] | None, min_samples: int, skips: SkipLog) -> Iterator[Read]:
    try:
        for item in _iter_file(path, wanted):
            if isinstance(item, InputError):
                skips.skip(item, "bad read")
                continue
            try:
                read = validate_read(item)
            except InputError as error:
                skips.skip(error, "bad read")
                continue
            if read.num_samples >= min_samples:
                yield read
    except InputError as error:
        skips.skip(error, "unreadable file")
    except Exception as error:  # corrupt or truncated container: keep the reads already yielded
        skips.skip(InputError(f"unreadable file ({type(error).__name__}: {error})", path), "unreadable file")


def load_read_ids(path: str | os.PathLike) -> set[str]:
    """Read ids from a text file, one per line (the first tab/space-separated column)."""
    try:
        with open(path) as handle:
            return {line.split()[0] for line in handle if line.strip() and not line.startswith("#")}
    except OSError as error:
        raise InputError(f"cannot read the read-id list ({error.strerror})", str(path)) from None


def scan_runs(files: Iterable[str]) -> dict[str, dict]:
    """Run metadata per run id (flow cell, kit, sample rate, start time), read cheaply:
    a POD5 file's run table, or the first read of other files. Unreadable files are ignored
    here; the reading pass reports them."""
    from basecaller.io.isolate import isolated_call

    runs: dict[str, dict] = {}
    for path in files:
        try:
            check_container(path)
            for read in isolated_call(_first_reads, path, detect_format(path), path):
                runs.setdefault(read.run_id, {"flow_cell_id": read.flow_cell_id, "kit": read.sequencing_kit,
                                              "sample_rate_hz": read.sample_rate_hz, "experiment": read.experiment})
        except Exception:  # noqa: S112 - reported by the reading pass
            continue
    return runs


def _first_reads(path: str) -> list[Read]:
    if detect_format(path) == "pod5":
        import pod5

        with pod5.Reader(path) as reader:
            infos = {}
            for record in reader.reads():  # first read of each run
                infos.setdefault(record.run_info_index, record)
                if len(infos) == len(reader.run_info_table.read_all()):
                    break
            from basecaller.io.pod5 import _run_metadata, _to_read

            return [_to_read(rec, path, _run_metadata(rec.run_info)) for rec in infos.values()]
    first = next(iter(_iter_file_here(path, None)), None)
    return [first] if isinstance(first, Read) else []

"""Output writers for called reads: FASTQ(.gz), unaligned SAM/BAM and the sequencing summary.

Every writer is a context manager that writes to ``<path>.tmp-<pid>`` beside the output and
renames it into place only when the block ends without an exception, so an output file that
exists is always complete. With ``resume=True`` a writer first copies the records of an
existing output into the new file; ``read_ids_in_output`` lists them so callers can skip those
reads.
"""

from __future__ import annotations

import array
import contextlib
import glob
import gzip
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from basecaller.errors import InputError
from basecaller.io.fastx import read_fastx
from basecaller.io.records import CalledRead

__all__ = [
    "FASTQ_SUFFIXES",
    "SAM_SUFFIXES",
    "AtomicFile",
    "BamWriter",
    "FastqWriter",
    "OutputWriters",
    "SummaryWriter",
    "atomic_path",
    "check_output_folder",
    "check_output_path",
    "remove_stale_temporaries",
    "temporary_path",
    "fastq_header",
    "open_writers",
    "output_format",
    "read_group",
    "read_ids_in_output",
]

FASTQ_SUFFIXES = (".fastq", ".fq", ".fastq.gz", ".fq.gz")
SAM_SUFFIXES = (".sam", ".bam")
SUMMARY_COLUMNS = (
    "filename",
    "read_id",
    "run_id",
    "channel",
    "start_time",
    "duration",
    "num_samples",
    "sequence_length_template",
    "mean_qscore_template",
)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's live process
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete ``<path>.tmp-<pid>`` files left by processes that no longer run (a killed
    earlier run); returns what was removed."""
    final = Path(path)
    removed = []
    for candidate in final.parent.glob(f"{glob.escape(final.name)}.tmp-*"):
        pid = candidate.name.rsplit(".tmp-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


def temporary_path(path: str | os.PathLike) -> Path:
    """Where an output is written before its rename: ``<path>.tmp-<pid>`` beside it (stale ones
    of dead processes are removed first)."""
    final = Path(path)
    remove_stale_temporaries(final)
    return final.with_name(f"{final.name}.tmp-{os.getpid()}")


def check_output_path(path: str | os.PathLike) -> Path:
    """Make sure ``path`` can be written, before any work starts: its folder exists (created
    if missing) and takes files, and ``path`` is not a folder. InputError in one line if not."""
    final = Path(path)
    if final.is_dir():
        raise InputError("the output is a directory; give a file name", str(final))
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"cannot create the output folder: {_first_file(parent)} is a file", str(final)) from None
    except OSError as error:
        raise InputError(f"cannot create the output folder {parent} ({error.strerror})", str(final)) from None
    probe = parent / f".{final.name}.write-test-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise InputError(f"cannot write in {parent} ({error.strerror})", str(final)) from None
    return final


def check_output_folder(path: str | os.PathLike) -> Path:
    """Like ``check_output_path`` for an output that is a folder (a model, a chunk dataset):
    it may exist as a folder, not as a file, and its parent must take new entries. Nothing is
    created but missing parents."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError("the output folder is a file", str(folder))
    check_output_path(folder.parent / f".{folder.name}.check")
    return folder


def _first_file(folder: Path) -> Path:
    for ancestor in [folder, *folder.parents]:
        if ancestor.exists() and not ancestor.is_dir():
            return ancestor
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success, else delete it."""
    final = Path(path)
    tmp = temporary_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def output_format(path: str | os.PathLike) -> str:
    """ "fastq", "sam" or "bam" from the file name; InputError for anything else."""
    name = str(path).lower()
    if name.endswith(FASTQ_SUFFIXES):
        return "fastq"
    if name.endswith(SAM_SUFFIXES):
        return name[-3:]
    raise InputError(
        f"unknown output format; use one of {', '.join(FASTQ_SUFFIXES + SAM_SUFFIXES)}", str(path)
    )


class AtomicFile:
    """Base writer: subclasses open ``self._file`` in ``_open(tmp, resume)`` and add ``write``."""

    def __init__(self, path: str | os.PathLike, resume: bool = False):
        self.path = Path(path)
        self.resume = resume and self.path.exists()
        self.tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")  # set again on entry
        self._file = None

    def __enter__(self):
        self.tmp = temporary_path(self.path)  # and the temporaries of dead runs are removed
        try:
            self._open(self.tmp, self.resume)
        except BaseException:
            self._discard()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self._discard()
            return False
        try:
            self._close()
        except BaseException:
            self._discard()
            raise
        os.replace(self.tmp, self.path)
        return False

    def _discard(self) -> None:
        with contextlib.suppress(Exception):
            self._close()
        self.tmp.unlink(missing_ok=True)

    def _open(self, tmp: Path, resume: bool) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def write(self, read: CalledRead) -> None:
        raise NotImplementedError


def fastq_header(read: CalledRead) -> str:
    """``@read_id`` followed by tab-separated SAM-style tags, as ``--emit-fastq`` writes."""
    tags = [
        f"qs:f:{read.mean_qscore:.2f}",
        f"ns:i:{read.num_samples}",
        f"ts:i:{read.trimmed_samples}",
    ]
    if read.read_group:
        tags.append(f"RG:Z:{read.read_group}")
    return "\t".join([f"@{read.read_id}", *tags])


class FastqWriter(AtomicFile):
    """FASTQ, gzip-compressed when the path ends in ``.gz``."""

    def _open(self, tmp: Path, resume: bool) -> None:
        if resume:  # gzip members concatenate, so the old file's bytes are copied as they are
            shutil.copyfile(self.path, tmp)
        gz = self.path.name.endswith(".gz")
        self._file = gzip.open(tmp, "at", compresslevel=6) if gz else open(tmp, "a")

    def write(self, read: CalledRead) -> None:
        self._file.write(f"{fastq_header(read)}\n{read.sequence}\n+\n{read.qstring}\n")


def read_group(
    run_id: str,
    model: str,
    flow_cell_id: str = "",
    start_time: str = "",
    sample: str = "",
    library: str = "",
) -> tuple[str, dict[str, str]]:
    """A read-group ``(id, fields)`` pair, with id ``<run_id>_<model>`` as dorado names it."""
    fields = {"PU": flow_cell_id, "DT": start_time, "DS": f"runid={run_id} basecall_model={model}"}
    fields.update(SM=sample, LB=library)
    return f"{run_id}_{model}", {key: value for key, value in fields.items() if value}


class BamWriter(AtomicFile):
    """Unaligned SAM or BAM (by suffix) with ``qs``, ``ns``, ``ts``, ``RG`` and optional ``mv``.

    ``read_groups`` maps a read-group id to its ``@RG`` fields (PU, DT, DS, SM, LB).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        read_groups: dict[str, dict[str, str]] | None = None,
        emit_moves: bool = False,
        resume: bool = False,
        command_line: str = "",
    ):
        super().__init__(path, resume)
        self.read_groups = read_groups or {}
        self.emit_moves = emit_moves
        self.command_line = command_line

    def header(self) -> dict:
        from basecaller import __version__

        program = {"ID": "basecaller", "PN": "basecaller", "VN": __version__}
        if self.command_line:
            program["CL"] = self.command_line
        groups = [{"ID": rg_id, **fields} for rg_id, fields in self.read_groups.items()]
        header = {"HD": {"VN": "1.6", "SO": "unknown"}, "PG": [program]}
        return {**header, "RG": groups} if groups else header

    def _open(self, tmp: Path, resume: bool) -> None:
        import pysam

        mode = "wb" if output_format(self.path) == "bam" else "w"
        self._file = pysam.AlignmentFile(str(tmp), mode, header=self.header())
        if resume:
            with pysam.AlignmentFile(str(self.path), check_sq=False) as old:
                for record in old.fetch(until_eof=True):
                    self._file.write(record)

    def write(self, read: CalledRead) -> None:
        self._file.write(self._record(read))

    def _record(self, read: CalledRead):
        import pysam

        record = pysam.AlignedSegment(self._file.header)
        record.query_name = read.read_id
        record.flag = 4
        record.reference_id = record.next_reference_id = -1
        record.reference_start = record.next_reference_start = -1
        record.query_sequence = read.sequence
        record.query_qualities = array.array("B", read.qualities.tobytes())
        record.set_tag("qs", float(read.mean_qscore), "f")
        record.set_tag("ns", int(read.num_samples), "i")
        record.set_tag("ts", int(read.trimmed_samples), "i")
        if read.read_group:
            record.set_tag("RG", read.read_group, "Z")
        if self.emit_moves and read.moves is not None:
            moves = np.concatenate(([read.stride], read.moves)).astype(np.int8)
            record.set_tag("mv", array.array("b", moves.tobytes()))
        return record


class SummaryWriter(AtomicFile):
    """The sequencing-summary TSV (one row per read)."""

    def _open(self, tmp: Path, resume: bool) -> None:
        if resume:
            shutil.copyfile(self.path, tmp)
        self._file = open(tmp, "a")
        if not resume:
            self._file.write("\t".join(SUMMARY_COLUMNS) + "\n")

    def write(self, read: CalledRead) -> None:
        row = (
            read.filename,
            read.read_id,
            read.run_id,
            read.channel,
            f"{read.start_time_s:.6f}",
            f"{read.duration_s:.6f}",
            read.num_samples,
            len(read.sequence),
            f"{read.mean_qscore:.6f}",
        )
        self._file.write("\t".join(map(str, row)) + "\n")


class OutputWriters(contextlib.ExitStack):
    """The calls writer plus an optional summary writer, written together."""

    def __init__(self, writers: list[AtomicFile]):
        super().__init__()
        self.writers = writers

    def __enter__(self):
        super().__enter__()
        try:
            for writer in self.writers:
                self.enter_context(writer)
        except BaseException as error:  # discard the writers already opened
            self.__exit__(type(error), error, error.__traceback__)
            raise
        return self

    def write(self, read: CalledRead) -> None:
        for writer in self.writers:
            writer.write(read)


def open_writers(
    output_path: str | os.PathLike,
    read_groups: dict[str, dict[str, str]] | None = None,
    emit_moves: bool = False,
    summary_path: str | os.PathLike | None = None,
    resume: bool = False,
) -> OutputWriters:
    """Writers for ``output_path`` (format from its suffix) and an optional summary TSV.

    With ``resume`` the existing outputs' records are kept; skip ``read_ids_in_output``.
    """
    if output_format(output_path) == "fastq":
        calls: AtomicFile = FastqWriter(output_path, resume)
    else:
        calls = BamWriter(output_path, read_groups, emit_moves, resume)
    writers = [calls] + ([SummaryWriter(summary_path, resume)] if summary_path else [])
    return OutputWriters(writers)


def read_ids_in_output(path: str | os.PathLike) -> set[str]:
    """Read ids in a finished output file (empty when it does not exist)."""
    import pysam

    if not Path(path).exists():
        return set()
    try:
        if output_format(path) == "fastq":
            return {record.name for record in read_fastx(path)}
        with pysam.AlignmentFile(str(path), check_sq=False) as sam:
            return {record.query_name for record in sam.fetch(until_eof=True)}
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read existing output: {error}", str(path)) from error

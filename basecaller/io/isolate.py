"""Run a C-library reader in a forked child, so that a crash costs one file, not the process.

The signal libraries (pyslow5, HDF5, pod5/Arrow) can crash the interpreter on a damaged file
(a segmentation fault cannot be caught in Python). ``isolated_items`` runs an iterator in a
child process and streams its items back through a pipe; when the child dies by a signal, the
items it already sent are kept and the file is reported in one line. The C libraries' own
messages on stderr are captured and the first one goes into that line, instead of the
terminal. By default slow5/blow5 files are isolated (``BASECALLER_ISOLATE_READERS=all``
isolates every format, ``0`` none); where ``os.fork`` is unavailable the iterator runs here.
"""

from __future__ import annotations

import os
import pickle
import signal
import tempfile
from collections.abc import Callable, Iterator

from basecaller.errors import InputError

__all__ = ["isolated_items", "isolated_call", "isolation_enabled"]

_DONE = "__basecaller_isolated_done__"


# pyslow5 crashes on damaged headers (the corrupt-input suite found it); pod5 and HDF5 raise
# Python errors instead, and forking per file would cost single-read fast5 runs dearly.
ISOLATED_FORMATS = frozenset({"slow5"})


def isolation_enabled(fmt: str = "slow5") -> bool:
    """Whether files of format ``fmt`` are read in a child process:
    ``BASECALLER_ISOLATE_READERS`` = 0 (never), all (every format), unset (slow5/blow5)."""
    setting = os.environ.get("BASECALLER_ISOLATE_READERS", "")
    if not hasattr(os, "fork") or setting == "0":
        return False
    return setting == "all" or fmt in ISOLATED_FORMATS


def _child(write_fd: int, stderr_fd: int, produce: Callable[[], Iterator]) -> None:
    """The child's whole life: send every item, then the end marker, and exit."""
    code = 0
    try:
        os.dup2(stderr_fd, 2)
        with os.fdopen(write_fd, "wb", buffering=1 << 20) as out:
            try:
                for item in produce():
                    pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
                    out.flush()  # a crash on the next item must not take this one with it
                pickle.dump(_DONE, out)
            except BaseException as error:  # sent as data: the parent decides what it means
                pickle.dump(_as_error(error), out)
                code = 3
    except BaseException:
        code = 4
    os._exit(code)


def _as_error(error: BaseException) -> InputError:
    if isinstance(error, InputError):
        return error
    return InputError(f"unreadable file ({type(error).__name__}: {error})")


def _first_message(stderr_file) -> str:
    stderr_file.seek(0)
    for raw in stderr_file.read(4096).decode(errors="replace").splitlines():
        line = "".join(ch for ch in raw if ch.isprintable()).strip()
        line = line.replace("[1;31m", "").replace("[0m", "")
        if line:
            return line[:200]
    return ""


def _exit_reason(status: int, stderr_file) -> str | None:
    """None for a clean exit, else a short reason (the signal, and the library's message)."""
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) in (0, 3):
        return None
    if os.WIFSIGNALED(status):
        what = f"the reader crashed ({signal.Signals(os.WTERMSIG(status)).name})"
    else:
        what = f"the reader failed (exit {os.WEXITSTATUS(status)})"
    message = _first_message(stderr_file)
    return f"{what}: {message}" if message else what


def isolated_items(produce: Callable[[], Iterator], path: str, fmt: str = "slow5") -> Iterator:
    """Yield what ``produce()`` yields, computed in a forked child process (for ``fmt``s
    that ``isolation_enabled``).

    An exception in the child is re-raised here (as InputError, naming ``path``); a child that
    dies (segfault, abort) raises InputError after the items it had sent.
    """
    if not isolation_enabled(fmt):
        yield from produce()
        return
    with tempfile.TemporaryFile() as stderr_file:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            os.close(read_fd)
            _child(write_fd, stderr_file.fileno(), produce)
        os.close(write_fd)
        finished = False
        try:
            with os.fdopen(read_fd, "rb", buffering=1 << 20) as source:
                error = yield from _relay(source)
            _, status = os.waitpid(pid, 0)
            finished = True
        finally:
            if not finished:  # the consumer stopped early, or relaying failed
                _kill(pid)
        reason = _exit_reason(status, stderr_file)
        if error is not None:
            raise error if error.path else InputError(error.message, path)
        if reason is not None:
            raise InputError(reason, path)


def _relay(source) -> Iterator:
    """Yield items until the end marker; return the child's error, if it sent one."""
    while True:
        try:
            item = pickle.load(source)
        except (EOFError, pickle.UnpicklingError):
            return None  # the child died mid-stream: its exit status says why
        if isinstance(item, str) and item == _DONE:
            return None
        if isinstance(item, InputError) and item.read_id is None:
            return item  # a file-level error ends the stream
        yield item


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def isolated_call(function: Callable, path: str, fmt: str, *args):
    """``function(*args)`` computed in a forked child; InputError naming ``path`` if it crashes."""
    results = list(isolated_items(lambda: iter([function(*args)]), path, fmt))
    if not results:
        raise InputError("the reader returned nothing", path)
    return results[0]

"""Run generator stages in background threads with bounded queues, so that reading, the
model and decoding overlap while memory stays flat."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["background", "ordered_map"]

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def background(items: Iterable[T], maxsize: int = 4) -> Iterator[T]:
    """Iterate ``items`` in a daemon thread, at most ``maxsize`` items ahead of the consumer.

    An exception in the producer is re-raised in the consumer. When the consumer stops
    early, the producer is told to stop at its next item.
    """
    buffer: queue.Queue = queue.Queue(maxsize)
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
            buffer.put(_DONE)
        except BaseException as error:  # handed to the consumer
            buffer.put(_Failure(error))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int = 1, maxsize: int = 4,
                name: str = "model") -> Iterator[R]:
    """``fn`` over ``items`` in ``workers`` background threads (named ``name``...), results in
    input order, at most ``maxsize + workers`` items in flight. Torch releases the GIL inside its
    kernels, so model calls in several threads (each single-threaded) use several cores."""
    if workers <= 1:
        yield from background((fn(item) for item in items), maxsize)
        return
    source = background(items, maxsize)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        in_flight: deque = deque()
        for item in source:
            in_flight.append(pool.submit(fn, item))
            if len(in_flight) >= workers + maxsize:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()

"""Run generator stages in background threads with bounded queues, so that reading, the
model and decoding overlap while memory stays flat."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["background"]

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

"""Background stages: order kept, errors passed on, several model workers give the same calls."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import DATA_SAMPLES

from basecaller.inference.pipeline import Basecaller
from basecaller.inference.stream import background, ordered_map
from basecaller.io.open import open_reads
from basecaller.models.directory import load_model


def test_ordered_map_keeps_input_order_across_workers():
    threads = set()

    def slow_square(x):
        threads.add(threading.current_thread().name)
        time.sleep(0.01 * (x % 3))  # later items often finish first
        return x * x

    assert list(ordered_map(slow_square, range(20), workers=3)) == [x * x for x in range(20)]
    assert len(threads) > 1
    assert list(ordered_map(slow_square, range(5), workers=1)) == [0, 1, 4, 9, 16]


@pytest.mark.parametrize("workers", [1, 3])
def test_ordered_map_passes_errors_on(workers):
    def fail_at_four(x):
        if x == 4:
            raise ValueError("bad item 4")
        return x

    with pytest.raises(ValueError, match="bad item 4"):
        list(ordered_map(fail_at_four, range(10), workers=workers))


def test_background_reraises_producer_errors():
    def produce():
        yield 1
        raise OSError("disk went away")

    stream = background(produce())
    assert next(stream) == 1
    with pytest.raises(OSError, match="disk went away"):
        next(stream)


def test_two_model_workers_call_the_same_reads():
    reads = list(open_reads(DATA_SAMPLES / "lambda_r941" / "reads.pod5"))
    one = list(Basecaller(load_model("r941_4khz_fast"), batch_size=4, precision="fp32").call(reads))
    two = list(Basecaller(load_model("r941_4khz_fast"), batch_size=4, precision="fp32", model_workers=2).call(reads))
    assert [c.read_id for c in two] == [r.read_id for r in reads]
    assert [c.sequence for c in two] == [c.sequence for c in one]

"""Pseudo-labels: another basecaller's reads, placed on the signal by our own model's moves.

This runs the basecaller, so it sits above ``basecaller.data`` (which turns labelled reads
into chunks); ``SOURCES`` is every labelled-read source, "pseudo" included.
"""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from basecaller.data import segmented
from basecaller.data.segmented import SegmentedRead, checked_records, fill_from_next
from basecaller.errors import InputError, SkipLog
from basecaller.inference.pipeline import Basecaller
from basecaller.io.fastx import sequences_by_name
from basecaller.io.open import open_reads
from basecaller.io.read import Read
from basecaller.models.directory import choose_model, load_model

__all__ = ["SOURCES", "pseudo_reads"]


def _label_starts(label: str, call: str, call_starts: np.ndarray) -> np.ndarray:
    """Signal start of every label base (len(label) + 1 entries) from a global alignment of
    the label to our call, whose bases start at ``call_starts`` (len(call) + 1 entries).
    A label base our call lacks starts where the next aligned one does."""
    import edlib

    cigar = edlib.align(label, call, mode="NW", task="path")["cigar"] or ""
    starts = np.full(len(label), -1, dtype=np.int64)
    q = t = 0
    last_t = 0
    for count, op in ((int(n), op) for n, op in re.findall(r"(\d+)([=XID])", cigar)):
        if op in "=X":
            starts[q : q + count] = call_starts[t : t + count]
            q, t, last_t = q + count, t + count, t + count
        elif op == "I":  # in the label only
            q += count
        else:  # "D": in our call only
            t += count
    end = call_starts[last_t]
    return np.append(fill_from_next(starts, end), end)


def pseudo_reads(paths, labels: str, model: str = "auto", skips: SkipLog | None = None,
                 **_) -> Iterator[SegmentedRead]:
    """Reads labelled by another basecaller's calls (``labels``, FASTQ/FASTA in read order),
    placed on the signal through the move table of our own ``model``'s call of each read."""
    skips = skips if skips is not None else SkipLog()
    if not Path(labels).exists():
        raise InputError("no such label file", labels)
    truth = sequences_by_name(labels)

    def records():
        reads = iter(open_reads(paths, read_ids=truth, skips=skips))
        first = next(reads, None)
        if first is None:
            return
        caller = Basecaller(load_model(choose_model(model, first)), skips=skips, emit_moves=True,
                            check_chemistry=False)
        in_flight: OrderedDict[str, Read] = OrderedDict()  # handed to the caller, not yet called back

        def remembered():
            for read in itertools.chain([first], reads):
                in_flight[read.read_id] = read
                yield read

        for call in caller.call(remembered()):  # calls come back in input order
            read_id, read = in_flight.popitem(last=False)
            while read_id != call.read_id:  # reads before it that the caller skipped
                read_id, read = in_flight.popitem(last=False)
            steps = np.flatnonzero(call.moves)
            call_starts = np.append(call.trimmed_samples + call.stride * steps,
                                    min(call.trimmed_samples + call.stride * len(call.moves), read.num_samples))
            label = truth[call.read_id].upper()
            yield SegmentedRead(read, label, _label_starts(label, call.sequence, call_starts))

    return checked_records(records(), skips)


SOURCES = {**segmented.SOURCES, "pseudo": pseudo_reads}

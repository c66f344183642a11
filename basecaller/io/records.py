"""The record a basecall pipeline yields and the writers consume."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from basecaller.ctc.decode import Decoded
    from basecaller.io.read import Read

__all__ = ["CalledRead"]


@dataclass
class CalledRead:
    """One basecalled read.

    ``qualities`` are phred scores (uint8, one per base). ``moves`` has one entry per model
    step (1 = a new base starts), at ``stride`` samples per step, counted from sample
    ``trimmed_samples`` of the raw read; ``num_samples`` is the raw read length.
    """

    read_id: str
    sequence: str
    qualities: np.ndarray
    moves: np.ndarray | None = None
    stride: int = 1
    mean_qscore: float = 0.0
    num_samples: int = 0
    trimmed_samples: int = 0
    duration_s: float = 0.0
    start_time_s: float = 0.0
    channel: str = ""
    run_id: str = ""
    read_group: str = ""
    sample_rate_hz: float = 0.0
    filename: str = ""

    def __post_init__(self) -> None:
        self.qualities = np.asarray(self.qualities, dtype=np.uint8)
        if len(self.qualities) != len(self.sequence):
            raise ValueError(
                f"read {self.read_id}: {len(self.sequence)} bases but {len(self.qualities)} qualities"
            )
        if self.moves is not None:
            self.moves = np.asarray(self.moves, dtype=np.uint8)

    @classmethod
    def from_decoded(
        cls,
        read: Read,
        decoded: Decoded,
        stride: int,
        trimmed_samples: int = 0,
        read_group: str = "",
        mean_qscore_start: int = 0,
    ) -> CalledRead:
        """The call of ``read`` from its stitched decode; ``qs`` as dorado computes it."""
        from basecaller.ctc.decode import mean_qscore

        return cls(
            read_id=read.read_id,
            sequence=decoded.sequence,
            qualities=decoded.qualities,
            moves=decoded.moves,
            stride=stride,
            mean_qscore=mean_qscore(decoded.qualities, mean_qscore_start),
            num_samples=read.num_samples,
            trimmed_samples=trimmed_samples,
            duration_s=read.duration_s,
            start_time_s=read.start_time_s,
            channel=str(read.channel),
            run_id=read.run_id,
            read_group=read_group,
            sample_rate_hz=read.sample_rate_hz,
            filename=os.path.basename(read.source_path),
        )

    @property
    def qstring(self) -> str:
        """Qualities as a FASTQ string (phred + 33)."""
        return (self.qualities + 33).tobytes().decode()

"""The record a basecall pipeline yields and the writers consume."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    @property
    def qstring(self) -> str:
        """Qualities as a FASTQ string (phred + 33)."""
        return (self.qualities + 33).tobytes().decode()

"""The one record every reader yields."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Read:
    """One raw nanopore read, exactly as the file stores it.

    ``signal_dac`` holds the raw int16 digitiser values; ``signal_pa`` derives the current
    in picoamps as ``(dac + offset_dac) * scale_pa_per_dac``. Normalisation and trimming are
    pure functions applied later (``basecaller.signal``).
    """

    read_id: str
    signal_dac: np.ndarray
    offset_dac: float
    scale_pa_per_dac: float
    sample_rate_hz: float
    channel: str = ""
    start_sample: int = 0
    start_time_s: float = 0.0
    run_id: str = ""
    flow_cell_id: str = ""
    sequencing_kit: str = ""
    experiment: str = ""
    #: Run metadata that tells the chemistry (``basecaller.io.chemistry``), where the file has it.
    flow_cell_product: str = ""  # e.g. FLO-MIN106, FLO-PRO114M
    basecall_config: str = ""  # e.g. dna_r10.4.1_e8.2_400bps_fast_prom.cfg
    protocol: str = ""  # the experiment script / protocol name
    pore_type: str = ""
    source_path: str = ""
    #: Normalisation the file itself carries (Tombo, taiyaki), in pA, where given.
    file_shift_pa: float | None = None
    file_scale_pa: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def signal_pa(self) -> np.ndarray:
        """Current in pA, float32."""
        dac = np.asarray(self.signal_dac, dtype=np.float32)
        return ((dac + np.float32(self.offset_dac)) * np.float32(self.scale_pa_per_dac)).astype(
            np.float32, copy=False
        )

    @property
    def num_samples(self) -> int:
        return int(len(self.signal_dac))

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz

    def __repr__(self) -> str:
        return (
            f"Read({self.read_id!r}, samples={self.num_samples}, "
            f"rate={self.sample_rate_hz:g} Hz, run={self.run_id!r})"
        )

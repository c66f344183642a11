"""Write small FAST5 files for tests: multi-read, VBZ-compressed, optionally with bad reads."""

from __future__ import annotations

import h5py
import numpy as np
import vbz_h5py_plugin  # noqa: F401  (registers the VBZ filter)

VBZ_FILTER = 32020


def write_multi_read_fast5(path, reads, vbz: bool = True, signals=None) -> None:
    """Write ``reads`` (basecaller Read records) as a multi-read FAST5 file.

    ``signals`` optionally overrides the stored Signal dataset per read (e.g. empty or float
    arrays with NaN, to make bad reads).
    """
    compression = {"compression": VBZ_FILTER, "compression_opts": (0, 2, 1, 1)} if vbz else {}
    with h5py.File(path, "w") as handle:
        handle.attrs["file_version"] = np.bytes_("2.2")
        for index, read in enumerate(reads):
            group = handle.create_group(f"read_{read.read_id}")
            raw = group.create_group("Raw")
            signal = read.signal_dac if signals is None or signals[index] is None else signals[index]
            raw.create_dataset("Signal", data=signal, **(compression if signal.dtype == np.int16 and len(signal) else {}))
            raw.attrs["read_id"] = np.bytes_(read.read_id)
            raw.attrs["start_time"] = np.uint64(read.start_sample)
            channel = group.create_group("channel_id")
            channel.attrs["channel_number"] = np.bytes_(read.channel or "1")
            channel.attrs["digitisation"] = 8192.0
            channel.attrs["offset"] = read.offset_dac
            channel.attrs["range"] = read.scale_pa_per_dac * 8192.0
            channel.attrs["sampling_rate"] = read.sample_rate_hz
            tracking = group.create_group("tracking_id")
            tracking.attrs["run_id"] = np.bytes_(read.run_id)
            tracking.attrs["flow_cell_id"] = np.bytes_(read.flow_cell_id)
            context = group.create_group("context_tags")
            context.attrs["sequencing_kit"] = np.bytes_(read.sequencing_kit.lower())

"""Stream reads from POD5 files with the ``pod5`` library."""

from __future__ import annotations

from collections.abc import Iterator

from basecaller.errors import InputError
from basecaller.io.read import Read


def _run_metadata(run_info) -> dict:
    return {
        "sample_rate_hz": float(run_info.sample_rate),
        "run_id": str(run_info.acquisition_id or run_info.protocol_run_id or ""),
        "flow_cell_id": str(run_info.flow_cell_id or ""),
        "sequencing_kit": str(run_info.sequencing_kit or "").upper(),
        "experiment": str(run_info.experiment_name or ""),
    }


def _to_read(record, path: str, meta: dict) -> Read:
    calibration = record.calibration
    return Read(
        read_id=str(record.read_id),
        signal_dac=record.signal,
        offset_dac=float(calibration.offset),
        scale_pa_per_dac=float(calibration.scale),
        channel=str(record.pore.channel),
        start_sample=int(record.start_sample),
        start_time_s=int(record.start_sample) / meta["sample_rate_hz"],
        source_path=path,
        **meta,
    )


def iter_pod5_reads(path: str, read_ids: set[str] | None = None) -> Iterator[Read | InputError]:
    """Yield each read of a POD5 file; a read that fails to decode is yielded as its error."""
    import pod5

    run_cache: dict = {}
    with pod5.Reader(path) as reader:
        for record in reader.reads():
            read_id = str(record.read_id)
            if read_ids is not None and read_id not in read_ids:
                continue
            try:
                run_key = record.run_info_index
                if run_key not in run_cache:
                    run_cache[run_key] = _run_metadata(record.run_info)
                yield _to_read(record, path, run_cache[run_key])
            except Exception as error:  # one bad record must not stop the file
                yield InputError(f"unreadable read ({type(error).__name__}: {error})", path, read_id)

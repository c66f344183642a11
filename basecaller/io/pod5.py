"""Stream reads from POD5 files with the ``pod5`` library."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from basecaller.errors import InputError
from basecaller.io.read import Read


def _run_metadata(run_info) -> dict:
    return {
        "sample_rate_hz": float(run_info.sample_rate),
        "run_id": str(run_info.acquisition_id or run_info.protocol_run_id or ""),
        "flow_cell_id": str(run_info.flow_cell_id or ""),
        "sequencing_kit": str(run_info.sequencing_kit or "").upper(),
        "experiment": str(run_info.experiment_name or ""),
        "flow_cell_product": str(run_info.flow_cell_product_code or ""),
        "basecall_config": str(dict(run_info.context_tags).get("basecall_config_filename", "")),
        "protocol": str(run_info.protocol_name or dict(run_info.tracking_id).get("exp_script_name", "")),
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
        pore_type=str(record.pore.pore_type or "").replace("not_set", ""),
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


def _run_info(read: Read):
    import datetime

    import pod5

    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return pod5.RunInfo(
        acquisition_id=read.run_id or "unknown", acquisition_start_time=epoch, adc_max=2047, adc_min=-2048,
        context_tags={"sample_frequency": str(int(read.sample_rate_hz)), "sequencing_kit": read.sequencing_kit.lower(),
                      "experiment_type": read.experiment, "basecall_config_filename": read.basecall_config},
        experiment_name=read.experiment, flow_cell_id=read.flow_cell_id, flow_cell_product_code=read.flow_cell_product,
        protocol_name=read.protocol, protocol_run_id=read.run_id, protocol_start_time=epoch, sample_id="",
        sample_rate=int(read.sample_rate_hz), sequencing_kit=read.sequencing_kit.lower(), sequencer_position="",
        sequencer_position_type="", software="basecaller", system_name="", system_type="",
        tracking_id={"run_id": read.run_id, "flow_cell_id": read.flow_cell_id},
    )


def _pod5_record(read: Read, run_info):
    import uuid

    import numpy as np
    import pod5

    channel = int(read.channel) if str(read.channel).isdigit() else 0
    return pod5.Read(
        read_id=uuid.UUID(read.read_id), pore=pod5.Pore(channel=channel, well=1, pore_type="not_set"),
        calibration=pod5.Calibration(offset=read.offset_dac, scale=read.scale_pa_per_dac),
        read_number=0, start_sample=int(read.start_sample), median_before=float("nan"),
        end_reason=pod5.EndReason(reason=pod5.EndReasonEnum.UNKNOWN, forced=False), run_info=run_info,
        signal=np.asarray(read.signal_dac, dtype=np.int16),
    )


def write_pod5_records(path: str | os.PathLike, records: Iterable, batch_size: int = 64) -> int:
    """The one pod5 writer: ``pod5.Read`` records into a new file, in batches, atomically
    (the file appears under its name only when complete). Returns the number written."""
    import pod5

    from basecaller.io.writers import atomic_path

    count = 0
    with atomic_path(path) as temporary, pod5.Writer(temporary) as writer:
        for batch in _batches(records, batch_size):
            writer.add_reads(batch)
            count += len(batch)
    return count


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_pod5(path: str | os.PathLike, reads: Iterable[Read]) -> int:
    """Write ``Read`` records (int16 DAC signal, calibration and run metadata) to a new POD5
    file, atomically. Returns the number of reads written."""
    run_infos: dict = {}

    def records():
        for read in reads:
            key = (read.run_id, read.sample_rate_hz, read.flow_cell_id, read.flow_cell_product,
                   read.basecall_config, read.protocol, read.sequencing_kit)
            if key not in run_infos:
                run_infos[key] = _run_info(read)
            yield _pod5_record(read, run_infos[key])

    return write_pod5_records(path, records())

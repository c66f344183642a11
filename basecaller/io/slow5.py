"""Stream reads from SLOW5/BLOW5 files with ``pyslow5``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from basecaller.errors import InputError
from basecaller.io.read import Read

_HEADER_FIELDS = {"run_id": "run_id", "flow_cell_id": "flow_cell_id", "sequencing_kit": "sequencing_kit",
                  "experiment": "experiment_type", "flow_cell_product": "flow_cell_product_code",
                  "basecall_config": "basecall_config_filename", "protocol": "exp_script_name",
                  "pore_type": "pore_type"}


def _header(handle) -> dict:
    # pyslow5 can crash on get_header_value for absent keys: ask only for names it lists.
    names = set(handle.get_header_names())
    values = {field: handle.get_header_value(key) if key in names else "" for field, key in _HEADER_FIELDS.items()}
    values = {field: str(value or "") for field, value in values.items()}
    values["sequencing_kit"] = values["sequencing_kit"].upper()
    return values


def _to_read(record: dict, header: dict, path: str) -> Read:
    rate = float(record["sampling_rate"])
    start_sample = int(record.get("start_time", 0) or 0)
    return Read(
        read_id=record["read_id"],
        signal_dac=record["signal"],
        offset_dac=float(record["offset"]),
        scale_pa_per_dac=float(record["range"]) / float(record["digitisation"]),
        sample_rate_hz=rate,
        channel=str(record.get("channel_number", "")),
        start_sample=start_sample,
        start_time_s=start_sample / rate,
        source_path=path,
        **header,
    )


class _ErrorCollector(logging.Handler):
    """pyslow5 reports truncation through its logger and then just stops: catch that."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def iter_slow5_reads(path: str, read_ids: set[str] | None = None) -> Iterator[Read | InputError]:
    """Yield each read of a SLOW5/BLOW5 file; a read that fails to decode is yielded as its error."""
    import pyslow5

    logger = logging.getLogger("pyslow5")
    collector = _ErrorCollector()
    logger.addHandler(collector)
    propagate, logger.propagate = logger.propagate, False
    handle = pyslow5.Open(path, "r")
    try:
        header = _header(handle)
        for record in handle.seq_reads(pA=False, aux="all"):
            if read_ids is not None and record["read_id"] not in read_ids:
                continue
            try:
                yield _to_read(record, header, path)
            except Exception as error:
                yield InputError(f"unreadable read ({type(error).__name__}: {error})", path, record.get("read_id"))
        if collector.messages:
            raise InputError(f"file is truncated or corrupt ({collector.messages[-1]})", path)
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagate
        handle.close()

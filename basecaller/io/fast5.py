"""Stream reads from single-read and multi-read FAST5 (HDF5, gzip or VBZ compressed)."""

from __future__ import annotations

from collections.abc import Iterator

from basecaller.errors import InputError
from basecaller.io.read import Read

TOMBO_GROUP = "Analyses/RawGenomeCorrected_000/BaseCalled_template"


def _open_hdf5(path: str):
    import h5py
    import vbz_h5py_plugin  # noqa: F401  (registers the VBZ filter with HDF5)

    return h5py.File(path, "r")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _attrs(group, name: str) -> dict:
    return {key: _text(val) if isinstance(val, bytes) else val for key, val in group[name].attrs.items()} if name in group else {}


def _read_groups(handle) -> Iterator[tuple[object, object]]:
    """Yield (raw-read group, group holding channel/tracking metadata) for each read."""
    if "Raw" in handle and "Reads" in handle["Raw"]:  # single-read layout
        for name in handle["Raw/Reads"]:
            yield handle["Raw/Reads"][name], handle["UniqueGlobalKey"]
    else:  # multi-read layout: read_<uuid>/Raw, read_<uuid>/channel_id, ...
        for name in handle:
            if name.startswith("read_"):
                yield handle[name]["Raw"], handle[name]


def _tombo_normalisation(handle, offset: float, scale: float) -> tuple[float | None, float | None]:
    """Tombo stores shift/scale in DAC units; return them in pA."""
    if TOMBO_GROUP not in handle:
        return None, None
    attrs = handle[TOMBO_GROUP].attrs
    if "shift" not in attrs or "scale" not in attrs:
        return None, None
    return (float(attrs["shift"]) + offset) * scale, float(attrs["scale"]) * scale


def _to_read(handle, raw, meta_group, path: str) -> Read:
    channel = _attrs(meta_group, "channel_id")
    tracking = _attrs(meta_group, "tracking_id")
    context = _attrs(meta_group, "context_tags")
    offset = float(channel["offset"])
    scale = float(channel["range"]) / float(channel["digitisation"])
    rate = float(channel["sampling_rate"])
    start_sample = int(raw.attrs.get("start_time", 0))
    shift_pa, scale_pa = _tombo_normalisation(handle, offset, scale)
    return Read(
        read_id=_text(raw.attrs["read_id"]),
        signal_dac=raw["Signal"][()],
        offset_dac=offset,
        scale_pa_per_dac=scale,
        sample_rate_hz=rate,
        channel=_text(channel.get("channel_number", "")),
        start_sample=start_sample,
        start_time_s=start_sample / rate,
        run_id=tracking.get("run_id", ""),
        flow_cell_id=tracking.get("flow_cell_id", ""),
        sequencing_kit=context.get("sequencing_kit", "").upper(),
        experiment=context.get("experiment_type", ""),
        flow_cell_product=tracking.get("flow_cell_product_code", ""),
        basecall_config=context.get("basecall_config_filename", ""),
        protocol=tracking.get("exp_script_name", "") or tracking.get("protocol_name", ""),
        pore_type=tracking.get("pore_type", ""),
        source_path=path,
        file_shift_pa=shift_pa,
        file_scale_pa=scale_pa,
    )


def iter_fast5_reads(path: str, read_ids: set[str] | None = None) -> Iterator[Read | InputError]:
    """Yield each read of a FAST5 file; a read that fails to decode is yielded as its error."""
    with _open_hdf5(path) as handle:
        for raw, meta_group in _read_groups(handle):
            read_id = _text(raw.attrs.get("read_id", raw.name))
            if read_ids is not None and read_id not in read_ids:
                continue
            try:
                yield _to_read(handle, raw, meta_group, path)
            except Exception as error:
                yield InputError(f"unreadable read ({type(error).__name__}: {error})", path, read_id)

"""Write simulated reads: ``reads.pod5``, ``truth.fasta`` and ``segmentation.npz``."""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from basecaller.simulate.kmer_model import get_chemistry
from basecaller.simulate.params import load_params
from basecaller.simulate.simulator import SimulatedRead

POD5_NAME, TRUTH_NAME, SEGMENTATION_NAME = "reads.pod5", "truth.fasta", "segmentation.npz"
_BATCH = 64
_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def run_id_for(seed: int) -> str:
    return f"simulated-{seed}"


def write_simulation(
    outdir: str | os.PathLike,
    reads: Iterable[SimulatedRead],
    *,
    chemistry: str,
    sample_rate_hz: int,
    seed: int,
    kmer_model_path: str = "",
) -> dict[str, Path]:
    """Stream ``reads`` into OUTDIR; files appear under their final names only when complete."""
    import pod5

    from basecaller.io.pod5 import write_pod5_records

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    final = {name: out / name for name in (POD5_NAME, TRUTH_NAME, SEGMENTATION_NAME)}
    temp = {name: out / f".tmp-{name}" for name in (TRUTH_NAME, SEGMENTATION_NAME)}
    run_info = _run_info(pod5, chemistry, sample_rate_hz, seed, kmer_model_path)
    segmentation: dict[str, np.ndarray] = {}
    with open(temp[TRUTH_NAME], "w") as truth:

        def records():  # the truth and segmentation of each read are written as it streams by
            start_sample = 0
            for number, read in enumerate(reads):
                yield _pod5_read(pod5, read, run_info, number, start_sample)
                start_sample += read.signal_dac.size
                truth.write(f">{read.truth_header()}\n{read.sequence}\n")
                segmentation[read.read_id] = read.base_starts

        write_pod5_records(final[POD5_NAME], records(), batch_size=_BATCH)
    with open(temp[SEGMENTATION_NAME], "wb") as handle:
        np.savez(handle, **segmentation)
    for name, path in temp.items():
        os.replace(path, final[name])
    return final


def _run_info(pod5, chemistry: str, sample_rate_hz: int, seed: int, model_path: str):
    chem = get_chemistry(chemistry)
    adc_min, adc_max = load_params(chem.name).adc_range
    run_id = run_id_for(seed)
    flow_cell_id = f"SIM{chem.name.replace('.', '')}"
    tags = {
        "chemistry": chem.name,
        "simulated": "1",
        "simulator": "basecaller.simulate",
        "kmer_model": os.path.basename(model_path),
        "sample_frequency": str(sample_rate_hz),
        "sequencing_kit": chem.sequencing_kit,
        "experiment_type": "genomic_dna",
    }
    tracking = {"run_id": run_id, "flow_cell_id": flow_cell_id, "sample_id": "simulated",
                "device_type": "simulator", "exp_start_time": _EPOCH.isoformat()}
    return pod5.RunInfo(
        acquisition_id=run_id, acquisition_start_time=_EPOCH, adc_max=adc_max, adc_min=adc_min,
        context_tags=tags, experiment_name="simulated", flow_cell_id=flow_cell_id,
        flow_cell_product_code=chem.flow_cell_product_code, protocol_name="simulated",
        protocol_run_id=run_id, protocol_start_time=_EPOCH, sample_id="simulated",
        sample_rate=int(sample_rate_hz), sequencing_kit=chem.sequencing_kit,
        sequencer_position="SIM", sequencer_position_type="simulator",
        software="basecaller.simulate", system_name="simulator", system_type="simulator",
        tracking_id=tracking,
    )


def _pod5_read(pod5, read: SimulatedRead, run_info, number: int, start_sample: int):
    import uuid

    return pod5.Read(
        read_id=uuid.UUID(read.read_id),
        pore=pod5.Pore(channel=1 + number % 512, well=1, pore_type="not_set"),
        calibration=pod5.Calibration(offset=read.offset_dac, scale=read.scale_pa_per_dac),
        read_number=number,
        start_sample=start_sample,
        median_before=float(np.median(read.signal_pa[:1000])) if read.signal_dac.size else 0.0,
        end_reason=pod5.EndReason(pod5.EndReasonEnum.SIGNAL_POSITIVE, False),
        run_info=run_info,
        signal=read.signal_dac,
    )

"""A readfish caller plugin on ``PrefixCaller``: adaptive sampling on a CPU, no dorado server.

In a readfish TOML (``pip install "basecaller[live]"``)::

    [caller_settings."basecaller.live.readfish_caller"]
    model = "r941_4khz_prefix"   # the default: made for read prefixes

readfish imports this module and builds ``Caller(run_information=..., sample_rate=...,
**the TOML table)``; each loop it calls ``basecall(chunks, signal_dtype, daq_values)`` with the
(channel, ``ReadData``) pairs of the read-until cache and gets one ``Result`` per chunk back.
Reads that cannot be called yet (too short a prefix, no samples, NaN calibration) come back
with an empty ``seq`` (readfish's ``no_seq`` decision) and the reason in ``basecall_data``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np
from readfish.plugins.abc import CallerABC
from readfish.plugins.utils import Result

from basecaller.errors import SkipLog
from basecaller.live.prefix import PrefixCaller, SignalChunk

if TYPE_CHECKING:
    import minknow_api

__all__ = ["Caller"]

logger = logging.getLogger("readfish.basecaller")


class Caller(CallerABC):
    """``CallerABC`` implementation. TOML keys: ``model`` (shipped name or model directory),
    ``device``, ``precision`` (auto, fp32, bf16), ``backend`` (auto, torch, onnx, openvino), ``threads`` (torch threads), ``workers`` (forward threads
    splitting each round's batch, one core each), ``min_samples``,
    ``max_samples``, ``deadline`` (seconds per round; reads over budget come back with no
    sequence and are called next round), ``beam`` (0 = greedy), ``qualities`` (default false:
    readfish does not use them, and a CRF model decodes much faster without; the debug log then
    holds FASTA), ``adapter_trim`` (default true: cut the adapter stall off each prefix before
    normalising it)."""

    def __init__(self, debug_log: str | None = None, run_information=None, sample_rate=None, *,
                 model: str = "r941_4khz_prefix", device: str = "cpu", precision: str = "auto", threads: int = 1,
                 min_samples: int = 800, max_samples: int = 40000, deadline: float | None = None, beam: int = 0,
                 workers: int = 1, backend: str = "auto", qualities: bool = False, adapter_trim: bool = True,
                 **unknown):
        self.debug_log = debug_log
        self.run_information = run_information
        self.sample_rate = float(sample_rate) if sample_rate else None
        self.params = {"model": model, "device": device, "precision": precision, "threads": threads,
                       "min_samples": min_samples, "max_samples": max_samples, "deadline": deadline, "beam": beam,
                       "workers": workers, "backend": backend, "qualities": qualities,
                       "adapter_trim": adapter_trim}
        self.unknown = unknown
        self.validate()
        self.prefix = PrefixCaller(model, device=device, precision=precision, min_samples=int(min_samples),
                                   max_samples=int(max_samples), deadline_s=deadline, beam_size=int(beam),
                                   skips=SkipLog(quiet=True), workers=int(workers),
                                   backend=backend, qualities=bool(qualities),
                                   adapter_trim=bool(adapter_trim))
        if self.prefix.backend == "torch":  # OpenVINO and ONNX Runtime never load torch
            import torch

            torch.set_num_threads(int(threads))
        if self.sample_rate is None:
            self.sample_rate = self.prefix.sample_rate_hz
        self._debug = open(debug_log, "a") if debug_log else None

    def validate(self) -> None:
        from basecaller.models.directory import find_model_dir

        if self.unknown:
            raise KeyError(f"unknown `caller_settings.\"basecaller.live.readfish_caller\"` keys: "
                           f"{', '.join(sorted(self.unknown))} (known: {', '.join(sorted(self.params))})")
        find_model_dir(self.params["model"])  # raises for an unknown model
        for key in ("threads", "workers", "min_samples", "max_samples"):
            if int(self.params[key]) < 1:
                raise ValueError(f"{key} must be at least 1, got {self.params[key]}")
        if self.params["deadline"] is not None and float(self.params["deadline"]) <= 0:
            raise ValueError(f"deadline must be positive, got {self.params['deadline']}")

    def basecall(self, chunks: Iterable[tuple[int, minknow_api.data_pb2.GetLiveReadsResponse.ReadData]],
                 signal_dtype: np.dtype, daq_values: dict | None = None) -> Iterator[Result]:
        """One forward pass over every chunk; yields a ``Result`` per chunk."""
        signal_dtype = np.dtype(signal_dtype)
        calibrated = signal_dtype.kind == "f"  # MinKNOW can send float32 picoamps
        pairs, inputs = [], []
        for channel, read in chunks:
            raw = np.frombuffer(read.raw_data, signal_dtype)
            if calibrated or daq_values is None:
                offset, scale = 0.0, 1.0
            else:
                try:
                    calibration = daq_values[channel]
                    offset, scale = float(calibration.offset), float(calibration.scaling)
                except (KeyError, IndexError):  # no calibration for this channel: that read is skipped
                    offset, scale = float("nan"), float("nan")
            number = int(getattr(read, "number", 0) or read.start_sample)
            pairs.append((channel, read.id))
            inputs.append(SignalChunk(int(channel), number, read.id, raw, offset, scale, self.sample_rate))
        for (channel, read_id), call in zip(pairs, self.prefix.call(inputs)):
            if call.reason:
                logger.debug("channel %s read %s: %s", channel, read_id, call.reason)
            elif self._debug and len(call.qualities):
                self._debug.write(f"@{read_id} ch={channel}\n{call.sequence}\n+\n{call.qstring}\n")
            elif self._debug:
                self._debug.write(f">{read_id} ch={channel}\n{call.sequence}\n")
            yield Result(channel=channel, read_id=read_id, seq=call.sequence, basecall_data=call)

    def describe(self) -> str:
        config = self.prefix.config
        lines = ["Using the basecaller prefix caller (CPU, in process):",
                 f"\t- model: {config.name} ({config.chemistry}, {config.sample_rate_hz:g} Hz)"]
        lines += [f"\t- {key}: {value}" for key, value in self.params.items() if key != "model"]
        return "\n".join(lines)

    def disconnect(self) -> None:
        if self._debug:
            self._debug.close()
            self._debug = None

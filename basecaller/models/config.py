"""Model configuration: the TOML a model directory carries, and presets.

A model directory holds ``config.toml`` (architecture and everything inference needs) and
``weights.pt`` (a state dict); ``basecaller.models.directory`` reads, writes and finds them.
"""

from __future__ import annotations

import copy
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from basecaller.errors import InputError
from basecaller.signal.normalise import Normalisation

__all__ = ["ModelConfig", "preset", "PRESETS"]



@dataclass
class ModelConfig:
    """Everything needed to build a basecalling model and to run it on raw reads."""

    name: str
    chemistry: str  # "r9.4.1" or "r10.4.1"
    sample_rate_hz: int
    stem: dict = field(default_factory=dict)  # channels, kernels, strides
    encoder: dict = field(default_factory=dict)  # recurrent core config (type, hidden_size, ...)
    normalisation: Normalisation = Normalisation()
    trim: bool = True
    window: int = 4000
    overlap: int = 200  # samples; 500 cost 8 % more model work for no identity (benchmarks/window_overlap.py)
    batch_size: int = 32
    qscore_scale: float = 1.0
    qscore_shift: float = 0.0
    move_bias: float = 0.0  # added to every base-emitting score before decoding (contract.decode_scores)
    training: dict = field(default_factory=dict)  # provenance: data, split, validation identity
    head: dict = field(default_factory=lambda: {"type": "ctc"})  # or {"type": "crf", "state_len": k}

    @property
    def head_type(self) -> str:
        return self.head.get("type", "ctc")

    @property
    def stride(self) -> int:
        return math.prod(self.stem["strides"])

    def to_dict(self) -> dict:
        data = {
            "model": {"name": self.name, "chemistry": self.chemistry, "sample_rate_hz": self.sample_rate_hz,
                      "alphabet": "NACGT", "stride": self.stride, "stem": self.stem, "encoder": self.encoder},
            "signal": {"normalisation": self.normalisation.method, "mad_factor": self.normalisation.mad_factor,
                       "clip": self.normalisation.clip if self.normalisation.clip is not None else 0.0,
                       "trim": self.trim},
            "basecall": {"window": self.window, "overlap": self.overlap, "batch_size": self.batch_size},
            "qscore": {"scale": self.qscore_scale, "shift": self.qscore_shift},
            "training": self.training,
        }
        if self.head_type != "ctc":  # a CTC model's config.toml stays as it was
            data["model"]["head"] = dict(self.head)
        if self.move_bias:  # as does that of a model decoded unbiased
            data["basecall"]["move_bias"] = self.move_bias
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        model, signal = data["model"], data.get("signal", {})
        basecall, qscore = data.get("basecall", {}), data.get("qscore", {})
        norm = Normalisation(method=signal.get("normalisation", "median_mad"),
                             mad_factor=signal.get("mad_factor", 1.4826), clip=signal.get("clip", 5.0) or None)
        return cls(name=model["name"], chemistry=model["chemistry"], sample_rate_hz=int(model["sample_rate_hz"]),
                   stem=dict(model["stem"]), encoder=dict(model["encoder"]), normalisation=norm,
                   trim=signal.get("trim", True), window=basecall.get("window", cls.window),
                   overlap=basecall.get("overlap", cls.overlap), batch_size=basecall.get("batch_size", cls.batch_size),
                   move_bias=float(basecall.get("move_bias", 0.0)),
                   qscore_scale=qscore.get("scale", 1.0), qscore_shift=qscore.get("shift", 0.0),
                   training=dict(data.get("training", {})), head=_head(model.get("head", {"type": "ctc"})))

    def dumps(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModelConfig:
        try:
            return cls.from_dict(tomllib.loads(Path(path).read_text()))
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as error:
            raise InputError(f"unreadable model config ({type(error).__name__}: {error})", str(path)) from None


def _head(head: dict) -> dict:
    head = dict(head)
    kind = head.setdefault("type", "ctc")
    if kind == "crf":
        head["state_len"] = int(head.get("state_len", 3))
        if not 1 <= head["state_len"] <= 6:
            raise ValueError(f"CRF state_len must be 1..6, got {head['state_len']}")
    elif kind != "ctc":
        raise ValueError(f"unknown model head type {kind!r} (ctc or crf)")
    return head


PRESETS = {
    # Small enough for CPU throughput: one direction per layer, as bonito's fast models.
    "fast": {"stem": {"channels": [4, 16, 96], "kernels": [5, 5, 19], "strides": [1, 1, 5]},
             "encoder": {"type": "lstm", "hidden_size": 96, "num_layers": 5, "direction": "alternating"}},
    # About 1.7x cheaper than fast (64 units instead of 96; r941_4khz_lite): for CPUs without AMX.
    "lite": {"stem": {"channels": [4, 16, 64], "kernels": [5, 5, 19], "strides": [1, 1, 5]},
             "encoder": {"type": "lstm", "hidden_size": 64, "num_layers": 5, "direction": "alternating"}},
    # About 2x cheaper than lite (48 units, stride 6): read prefixes for adaptive sampling on 2 cores.
    "prefix": {"stem": {"channels": [4, 16, 48], "kernels": [5, 5, 19], "strides": [1, 1, 6]},
               "encoder": {"type": "lstm", "hidden_size": 48, "num_layers": 5, "direction": "alternating"}},
    # Larger for a GPU.
    "hac": {"stem": {"channels": [16, 16, 384], "kernels": [5, 5, 19], "strides": [1, 1, 6]},
            "encoder": {"type": "lstm", "hidden_size": 384, "num_layers": 5, "direction": "alternating"}},
}


def preset(kind: str, chemistry: str = "r9.4.1", sample_rate_hz: int = 4000) -> ModelConfig:
    """A fresh config from a preset ("fast", "lite", "prefix" or "hac") for a chemistry and sample rate."""
    if kind not in PRESETS:
        raise InputError(f"unknown preset {kind!r}; choose from {', '.join(PRESETS)}")
    parts = copy.deepcopy(PRESETS[kind])
    stride = math.prod(parts["stem"]["strides"])
    window = 4000 // stride * stride
    return ModelConfig(name=f"{chemistry.replace('.', '')}_{sample_rate_hz // 1000}khz_{kind}", chemistry=chemistry,
                       sample_rate_hz=sample_rate_hz, window=window, overlap=40 * stride, **parts)

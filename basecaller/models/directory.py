"""Model directories: ``config.toml`` + ``weights.pt``, written atomically; shipped models
(``basecaller/models/shipped/<name>``) found by name, or chosen for a read's chemistry.

Training writes model directories and inference reads them, so both import this module.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import TYPE_CHECKING

from basecaller.errors import InputError
from basecaller.io.atomic import atomic_directory
from basecaller.io.chemistry import detect_chemistry
from basecaller.io.read import Read
from basecaller.models.config import ModelConfig

if TYPE_CHECKING:  # torch is imported when a model is built, so finding one stays light
    import torch

    from basecaller.models.ctc import CTCModel

__all__ = ["CPU_WITHOUT_AMX_KIND", "SHIPPED_DIR", "choose_model", "default_kind", "default_model_name",
           "find_model_dir", "load_model", "save_model_dir", "shipped_models"]

SHIPPED_DIR = Path(__file__).parent / "shipped"


def shipped_models() -> list[str]:
    return sorted(p.name for p in SHIPPED_DIR.glob("*") if (p / "config.toml").exists())


def find_model_dir(name_or_path: str | os.PathLike) -> Path:
    """A model directory from a path, or from the name of a shipped model."""
    path = Path(name_or_path)
    if (path / "config.toml").exists():
        return path
    shipped = SHIPPED_DIR / str(name_or_path)
    if (shipped / "config.toml").exists():
        return shipped
    known = ", ".join(shipped_models()) or "none"
    raise InputError(f"no model directory or shipped model named {name_or_path!r} (shipped: {known})")


def default_model_name(chemistry: str, sample_rate_hz: float, kind: str = "fast") -> str:
    """The shipped model for a chemistry and sample rate."""
    return f"{chemistry.replace('.', '')}_{int(round(sample_rate_hz / 1000))}khz_{kind}"


#: Per chemistry, the kind of shipped model that "auto" runs on a CPU without AMX, where the fast
#: model does not keep up with a MinION (2.05 M samples/s on 2 cores; README "Choosing an R9.4.1
#: model": on a Zen 4 EPYC with AVX512-BF16, fast 1.1-1.4 M, prefix 2.0-2.6 M samples/s).
CPU_WITHOUT_AMX_KIND = {"r9.4.1": "prefix"}


def default_kind(chemistry: str, device_type: str | None) -> str:
    """"fast", or on a CPU (``device_type`` "cpu") without AMX the chemistry's
    ``CPU_WITHOUT_AMX_KIND``; ``device_type`` None: always "fast"."""
    from basecaller.precision import cpu_has_amx

    if device_type == "cpu" and chemistry in CPU_WITHOUT_AMX_KIND and not cpu_has_amx():
        return CPU_WITHOUT_AMX_KIND[chemistry]
    return "fast"


def choose_model(name: str, first_read: Read | None, device_type: str | None = None) -> str:
    """The model directory to use: ``name``, or for "auto" the shipped model matching the
    first read's chemistry and sample rate (any rate of that chemistry as a fallback): the
    fast one, or the one of ``default_kind`` for runs on ``device_type`` "cpu"."""
    if name != "auto":
        return str(find_model_dir(name))
    if first_read is None:
        raise InputError("no readable reads in the inputs")
    detected = detect_chemistry(first_read)
    chemistry = (detected.name if detected.known else None) or "r9.4.1"
    exact = default_model_name(chemistry, first_read.sample_rate_hz, default_kind(chemistry, device_type))
    others = [m for m in shipped_models() if m.startswith(chemistry.replace(".", "")) and m != exact]
    others.sort(key=lambda m: not m.endswith("_fast"))  # another rate's fast model before other kinds
    candidates = [exact] + others
    for candidate in candidates:
        if candidate in shipped_models():
            return str(find_model_dir(candidate))
    raise InputError(f"no shipped model for {chemistry} at {first_read.sample_rate_hz:g} Hz "
                     f"(shipped: {', '.join(shipped_models()) or 'none'}); pass --model")


def load_model(model_dir: str | os.PathLike, device: str | torch.device = "cpu") -> CTCModel:
    """Build the model a directory (or shipped model name) describes and load its weights."""
    import torch

    from basecaller.models.crf import build_model

    folder = find_model_dir(model_dir)
    config = ModelConfig.load(folder / "config.toml")
    model = build_model(config)
    weights = folder / "weights.pt"
    if weights.exists():
        try:
            model.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
        except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as error:
            raise InputError(f"unreadable model weights ({type(error).__name__})", str(weights)) from None
    return model.to(device)


def save_model_dir(folder: str | os.PathLike, model: CTCModel) -> Path:
    """Write config.toml and weights.pt into ``folder`` atomically (staging folder + rename),
    keeping the old folder's ``checkpoints``."""
    import torch

    folder = Path(folder)
    with atomic_directory(folder, keep=("checkpoints",)) as staging:
        (staging / "config.toml").write_text(model.config.dumps())
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, staging / "weights.pt")
    return folder

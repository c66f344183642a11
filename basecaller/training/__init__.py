"""Task-agnostic training: one loop, truncated BPTT, checkpoints, early stopping, metrics log."""

from basecaller.training.bptt import TruncatedBPTT, Window, bptt_windows, detach_state
from basecaller.training.checkpoint import load_checkpoint, save_checkpoint
from basecaller.training.early_stopping import EarlyStopping
from basecaller.training.fit import FitOptions, fit
from basecaller.training.metrics_log import MetricsLog, read_metrics
from basecaller.training.schedule import warmup_cosine
from basecaller.training.seeding import get_rng_state, seed_everything, set_rng_state
from basecaller.training.trainer import (
    BatchStream,
    Stateful,
    Trainer,
    TrainResult,
    move_to_device,
)

__all__ = [
    "BatchStream",
    "EarlyStopping",
    "FitOptions",
    "MetricsLog",
    "Stateful",
    "Trainer",
    "TrainResult",
    "TruncatedBPTT",
    "Window",
    "bptt_windows",
    "detach_state",
    "fit",
    "get_rng_state",
    "load_checkpoint",
    "move_to_device",
    "read_metrics",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
    "warmup_cosine",
]

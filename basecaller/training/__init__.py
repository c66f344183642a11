"""Task-agnostic training: one loop, truncated BPTT, checkpoints, early stopping, metrics log."""

from basecaller.training.bptt import TruncatedBPTT, Window, bptt_windows, detach_state
from basecaller.training.checkpoint import load_checkpoint, save_checkpoint
from basecaller.training.device import get_rng_state, seed_everything, select_device, set_rng_state
from basecaller.training.early_stopping import EarlyStopping
from basecaller.training.metrics_log import MetricsLog, read_metrics
from basecaller.training.schedule import warmup_cosine
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
    "MetricsLog",
    "Stateful",
    "Trainer",
    "TrainResult",
    "TruncatedBPTT",
    "Window",
    "bptt_windows",
    "detach_state",
    "get_rng_state",
    "load_checkpoint",
    "move_to_device",
    "read_metrics",
    "save_checkpoint",
    "seed_everything",
    "select_device",
    "set_rng_state",
    "warmup_cosine",
]

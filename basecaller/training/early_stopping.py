"""Stop when a validation metric has not improved for ``patience`` validations."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["EarlyStopping"]


@dataclass
class EarlyStopping:
    """Tracks the best value of ``metric`` (``mode`` "min" or "max")."""

    metric: str
    mode: str = "min"
    patience: int = 3
    min_delta: float = 0.0
    best: float | None = None
    best_step: int | None = None
    bad_validations: int = 0

    def __post_init__(self):
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {self.mode!r}")

    def improved(self, value: float) -> bool:
        if self.best is None or math.isnan(self.best):
            return not math.isnan(value)
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, metrics: dict, step: int) -> bool:
        """Record one validation; returns True when it is the best so far."""
        if self.metric not in metrics:
            raise KeyError(f"validation returned no {self.metric!r}: {sorted(metrics)}")
        value = float(metrics[self.metric])
        if self.improved(value):
            self.best, self.best_step, self.bad_validations = value, step, 0
            return True
        self.bad_validations += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_validations >= self.patience

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

"""The state space of a CRF head: 4^k k-mer states, 5 incoming transitions each."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["CRFLayout", "NUM_BASES", "NUM_TRANSITIONS"]

NUM_BASES = 4
NUM_TRANSITIONS = NUM_BASES + 1  # stay + a move from each of the 4 predecessors


@dataclass(frozen=True)
class CRFLayout:
    """States are integers whose base-4 digits are the last ``state_len`` bases, oldest first.

    ``sources[s, j]`` is the state transition ``j`` into ``s`` comes from: ``s`` itself for the
    stay (j = 0), ``s // 4 + (j - 1) * 4^(k-1)`` for a move (j = 1..4, the base it drops).
    """

    state_len: int

    def __post_init__(self) -> None:
        if not 1 <= self.state_len <= 6:
            raise ValueError(f"state_len must be 1..6, got {self.state_len}")

    @property
    def num_states(self) -> int:
        return NUM_BASES ** self.state_len

    @property
    def num_scores(self) -> int:
        """Model outputs per step."""
        return self.num_states * NUM_TRANSITIONS

    @property
    def top(self) -> int:
        """4^(k-1): the weight of a state's oldest base."""
        return NUM_BASES ** (self.state_len - 1)

    @cached_property
    def sources(self) -> np.ndarray:
        states = np.arange(self.num_states)
        moves = states[:, None] // NUM_BASES + np.arange(NUM_BASES)[None, :] * self.top
        return np.concatenate([states[:, None], moves], axis=1).astype(np.int64)  # (S, 5)

    @cached_property
    def successors(self) -> tuple[np.ndarray, np.ndarray]:
        """For each source state p: the 4 states a move from p reaches, and the transition
        index (1 + p's oldest base) those moves use."""
        states = np.arange(self.num_states)
        succ = (states[:, None] % self.top) * NUM_BASES + np.arange(NUM_BASES)[None, :]
        return succ.astype(np.int64), (states // self.top + 1).astype(np.int64)

    @cached_property
    def outgoing(self) -> np.ndarray:
        """``(S, 5)`` flat indices ``s * 5 + j`` of the transitions leaving each state."""
        succ, via = self.successors
        states = np.arange(self.num_states)
        return np.concatenate([(states * NUM_TRANSITIONS)[:, None], succ * NUM_TRANSITIONS + via[:, None]], axis=1)

    def kmer(self, state: int) -> np.ndarray:
        """The bases (0..3, oldest first) of a state."""
        return np.array([(state // NUM_BASES ** (self.state_len - 1 - i)) % NUM_BASES for i in range(self.state_len)])

    def states_of(self, bases: np.ndarray) -> np.ndarray:
        """The k-mer state at each position ``i`` of a base sequence (0..3): bases[i:i+k]."""
        bases = np.asarray(bases, dtype=np.int64)
        count = len(bases) - self.state_len + 1
        if count <= 0:
            return np.zeros(0, dtype=np.int64)
        return sum(bases[i:i + count] * NUM_BASES ** (self.state_len - 1 - i) for i in range(self.state_len))

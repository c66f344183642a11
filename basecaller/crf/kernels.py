"""Compiled (numba) loops for CRF decoding: the same recursions as ``basecaller.crf.decode``'s
numpy code, one state and one step at a time instead of one numpy call per step.

The numpy versions spend their time in per-step Python and call overhead (a 64-state step is
a few thousand additions, and each of ~20 numpy calls per step costs more than that); here a
segment's whole recursion is one call, it releases the GIL (so decoding overlaps the model
workers' forward passes), and it is compiled once and cached on disk. ``decode`` imports this
module only when numba is installed (``decode.HAVE_NUMBA``); otherwise it keeps to numpy.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["posterior_table", "viterbi_paths"]

_jit = numba.njit(cache=True, nogil=True)


@_jit
def viterbi_paths(w: np.ndarray, starts: np.ndarray, steps: int, top: int):
    """Best paths of the segments ``w[start:start + steps]`` of ``w`` ``(T, S, 5)`` (float32;
    [stay, move from source j = 0..3]; the move into ``s`` from source j comes from state
    ``j * top + s // 4``), free start and end states; segments are read in place, not copied.
    Returns states ``(n, steps + 1)``, moves ``(n, steps)`` and each path's score ``(n,)``.
    Ties go to the stay, then to the lowest source, as in the numpy version."""
    count, states = starts.shape[0], w.shape[1]
    back = np.zeros((steps, states), dtype=np.int8)
    paths = np.empty((count, steps + 1), dtype=np.int64)
    moves = np.empty((count, steps), dtype=np.uint8)
    totals = np.zeros(count, dtype=np.float64)
    alpha = np.empty(states, dtype=np.float32)
    new = np.empty(states, dtype=np.float32)
    for i in range(count):
        alpha[:] = 0.0
        for t in range(steps):
            row = starts[i] + t
            top_score = np.float32(-np.inf)
            for s in range(states):
                best = alpha[s] + w[row, s, 0]
                via = 0
                r = s // 4
                for j in range(4):
                    candidate = w[row, s, j + 1] + alpha[j * top + r]
                    if candidate > best:
                        best = candidate
                        via = j + 1
                new[s] = best
                back[t, s] = via
                if best > top_score:
                    top_score = best
            for s in range(states):
                alpha[s] = new[s] - top_score
            totals[i] += top_score
        state = 0
        for s in range(1, states):
            if alpha[s] > alpha[state]:
                state = s
        paths[i, steps] = state
        for t in range(steps - 1, -1, -1):
            via = back[t, state]
            moves[i, t] = 1 if via != 0 else 0
            if via != 0:
                state = state // 4 + (via - 1) * top
            paths[i, t] = state
    return paths, moves, totals


@_jit
def posterior_table(e: np.ndarray, top: int):
    """Per-step posteriors ``(T, 5)`` [stay, move emitting A, C, G, T] from exponentiated
    scores ``e`` ``(T, 5, S)`` (float32, transposed so that each transition's scores are
    contiguous over the states, each step scaled by its maximum): scaled forward-backward with
    free start and end states. State ``s = 4 r + b`` is entered by a move from ``j * top + r``."""
    steps, states = e.shape[0], e.shape[2]
    table = np.zeros((steps, 5), dtype=np.float32)
    betas = np.empty((steps + 1, states), dtype=np.float32)
    alpha = np.empty(states, dtype=np.float32)
    new = np.empty(states, dtype=np.float32)
    mass = np.empty(states, dtype=np.float32)
    betas[steps, :] = 1.0
    for t in range(steps - 1, -1, -1):
        for p in range(states):
            new[p] = betas[t + 1, p] * e[t, 0, p]
        for j in range(4):
            for r in range(top):
                out = np.float32(0.0)
                for b in range(4):
                    out += e[t, j + 1, 4 * r + b] * betas[t + 1, 4 * r + b]
                new[j * top + r] += out
        total = np.float32(0.0)
        for p in range(states):
            total += new[p]
        for p in range(states):
            betas[t, p] = new[p] / total
    alpha[:] = np.float32(1.0 / states)
    moved = np.empty(4, dtype=np.float32)
    for t in range(steps):
        mass[:] = 0.0
        for j in range(4):
            for r in range(top):
                source = alpha[j * top + r]
                for b in range(4):
                    mass[4 * r + b] += e[t, j + 1, 4 * r + b] * source
        stay_mass = np.float32(0.0)
        moved[:] = 0.0
        total = np.float32(0.0)
        for r in range(top):
            for b in range(4):
                s = 4 * r + b
                stay = alpha[s] * e[t, 0, s]
                after = betas[t + 1, s]
                stay_mass += stay * after
                moved[b] += mass[s] * after
                new[s] = stay + mass[s]
                total += new[s]
        for s in range(states):
            alpha[s] = new[s] / total
        row = stay_mass + moved[0] + moved[1] + moved[2] + moved[3]
        table[t, 0] = stay_mass / row
        for b in range(4):
            table[t, 1 + b] = moved[b] / row
    return table

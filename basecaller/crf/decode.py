"""Decoding CRF scores: Viterbi (best path), a beam search over states, and per-step
posteriors (forward-backward) for qualities. numpy, vectorised over states and over segments.

A read's stitched scores ``(T, 4^k * 5)`` are cut into overlapping segments (``core`` steps
each plus ``margin`` steps either side), decoded together as one batch with free start and
end states, and each step is taken from the segment whose core holds it: the Python loop
runs over one segment's steps, not the read's. The paths of neighbouring segments agree once
they have coalesced inside the margin; ``core=None`` decodes the read as one segment (exact).
The output is a ``basecaller.ctc.Decoded``: a move into state ``s`` emits base ``s % 4``, the
move table has one entry per step, and the first state's k bases are not called (as in
bonito) unless ``include_start`` (used for chunk validation against full labels).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from basecaller.crf.layout import NUM_BASES, NUM_TRANSITIONS, CRFLayout
from basecaller.ctc.decode import Decoded, QscoreCalibration, phred_from_posterior

__all__ = ["COMPILED_CORE", "CORE", "MARGIN", "MIN_BEAM", "beam_search", "crf_decode", "segment", "step_posteriors", "viterbi"]

CORE, MARGIN = 400, 100  # numpy: short segments keep the per-step Python loop short
COMPILED_CORE = 4000  # numba: one call decodes every segment; long segments waste fewer margin steps
# Narrow beams over k-mer states lose to Viterbi (r941_4khz_crf, held-out lambda reads: beam 5
# 0.801 identity, Viterbi 0.874, beam 32 0.884), so a CRF beam keeps at least this many hypotheses.
MIN_BEAM = 32
_BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
_HASH = np.uint64(0x9E3779B97F4A7C15)


def _as_scores(scores: np.ndarray, layout: CRFLayout) -> np.ndarray:
    w = np.asarray(scores, dtype=np.float32)
    if w.ndim < 2 or w.shape[-1] != layout.num_scores:
        raise ValueError(f"expected CRF scores of shape (..., T, {layout.num_scores}), got {w.shape}")
    return w.reshape(w.shape[:-1] + (layout.num_states, NUM_TRANSITIONS))


def segment(num_steps: int, core: int | None = CORE, margin: int = MARGIN) -> tuple[np.ndarray, int]:
    """Start steps of the segments a read of ``num_steps`` steps is decoded in, and their
    common length. Step ``t`` belongs to segment ``min(t // core, n - 1)``."""
    if core is None or num_steps <= core + 2 * margin:
        return np.zeros(1, dtype=np.int64), num_steps
    count = -(-num_steps // core)
    length = core + 2 * margin
    starts = np.clip(np.arange(count) * core - margin, 0, num_steps - length)
    return starts.astype(np.int64), length


def _owned(num_steps: int, starts: np.ndarray, length: int, core: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(segment, local step) of every step of the read."""
    steps = np.arange(num_steps)
    if len(starts) == 1:
        return np.zeros(num_steps, dtype=np.int64), steps
    owner = np.minimum(steps // core, len(starts) - 1)
    return owner, steps - starts[owner]


def _cut(w: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    return np.stack([w[s:s + length] for s in starts])  # (n, L, S, 5)


def _split(w: np.ndarray, layout: CRFLayout) -> tuple[np.ndarray, np.ndarray]:
    """Stay scores ``(n, T, S)`` and move scores ``(n, T, 4, R, 4)`` indexed [j, r, b]: the
    move into state ``s = 4 r + b`` from state ``j R + r`` (R = 4^(k-1)). Source j's states
    are the contiguous block ``alpha[:, j R:(j + 1) R]``, so a step is 4 elementwise passes
    (no gathers, no reductions over short axes)."""
    count, steps = w.shape[:2]
    stay = np.ascontiguousarray(w[..., 0])
    move = w[..., 1:].reshape(count, steps, layout.top, NUM_BASES, NUM_BASES)
    return stay, np.ascontiguousarray(move.transpose(0, 1, 4, 2, 3))


HAVE_NUMBA = importlib.util.find_spec("numba") is not None  # numba itself is imported at first use


def _compiled(compiled: bool | None) -> bool:
    """Use the numba kernels: by default whenever numba is installed."""
    if compiled and not HAVE_NUMBA:
        raise RuntimeError("numba is not installed: no compiled CRF decoding")
    return HAVE_NUMBA if compiled is None else compiled


def _kernels():
    from basecaller.crf import kernels

    return kernels


def viterbi(scores: np.ndarray, state_len: int, compiled: bool | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Best path of a batch of score sequences ``(n, T, 4^k * 5)`` (or one ``(T, ...)``):
    its states ``(n, T + 1)`` (any start and end state), its moves ``(n, T)`` (1 where the
    step's transition is a move; a homopolymer move may keep the state) and, for one
    sequence, its score. ``compiled``: numba kernels (default when installed) or numpy."""
    layout = CRFLayout(state_len)
    w = _as_scores(scores, layout)
    single = w.ndim == 3
    if single:
        w = w[None]
    if _compiled(compiled):
        count, steps = w.shape[:2]
        flat = np.ascontiguousarray(w).reshape(count * steps, layout.num_states, NUM_TRANSITIONS)
        path, moves, totals = _kernels().viterbi_paths(flat, np.arange(count) * steps, steps, layout.top)
        return (path[0], moves[0], float(totals[0])) if single else (path, moves, float("nan"))
    count, steps = w.shape[:2]
    states, block = layout.num_states, layout.top
    stay, move = _split(w, layout)
    alpha = np.zeros((count, states), dtype=np.float32)
    best = np.empty_like(alpha)
    candidate = np.empty_like(alpha)
    better = np.empty(alpha.shape, dtype=bool)
    total = np.zeros(count)
    back = np.zeros((count, steps, states), dtype=np.int8)
    for t in range(steps):
        np.add(alpha, stay[:, t], out=best)
        via = back[:, t]
        for j in range(NUM_BASES):
            np.add(move[:, t, j], alpha[:, j * block:(j + 1) * block, None], out=candidate.reshape(count, block, -1))
            np.greater(candidate, best, out=better)
            np.copyto(best, candidate, where=better)
            np.copyto(via, j + 1, where=better)
        top = best.max(axis=-1, keepdims=True)
        np.subtract(best, top, out=alpha)
        total += top[:, 0]
    src = layout.sources
    rows = np.arange(count)
    path = np.empty((count, steps + 1), dtype=np.int64)
    state = alpha.argmax(axis=-1)
    path[:, steps] = state
    moves = np.empty((count, steps), dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        via = back[rows, t, state]
        moves[:, t] = via != 0
        state = src[state, via]
        path[:, t] = state
    return (path[0], moves[0], float(total[0])) if single else (path, moves, float("nan"))


def step_posteriors(scores: np.ndarray, state_len: int, compiled: bool | None = None) -> np.ndarray:
    """Per-step posteriors ``(..., T, 5)``: [stay, move emitting A, C, G, T] (forward-backward
    in scaled probability space, free start and end states); rows sum to 1."""
    layout = CRFLayout(state_len)
    w = _as_scores(scores, layout)
    single = w.ndim == 3
    if single:
        w = w[None]
    count, steps, states, _ = w.shape
    block = layout.top
    if _compiled(compiled):
        table = _compiled_posteriors(w.reshape(count * steps, states, NUM_TRANSITIONS), np.arange(count) * steps,
                                     steps, block)
        return table[0] if single else table
    e = np.exp(w - w.max(axis=(2, 3), keepdims=True))
    stay, move = _split(e, layout)
    alphas = np.empty((count, steps + 1, states), dtype=np.float32)
    into = np.zeros((count, steps, states), dtype=np.float32)  # move mass into each state
    alphas[:, 0] = 1.0 / states
    for t in range(steps):
        a = alphas[:, t]
        mass = into[:, t].reshape(count, block, NUM_BASES)
        for j in range(NUM_BASES):
            mass += move[:, t, j] * a[:, j * block:(j + 1) * block, None]
        new = a * stay[:, t] + into[:, t]
        alphas[:, t + 1] = new / new.sum(axis=-1, keepdims=True)
    betas = np.empty_like(alphas)
    betas[:, steps] = 1.0
    for t in range(steps - 1, -1, -1):
        b = betas[:, t + 1]
        product = move[:, t] * b.reshape(count, 1, block, NUM_BASES)  # (n, 4 sources, R, 4 bases)
        out = product[..., 0] + product[..., 1] + product[..., 2] + product[..., 3]
        new = b * stay[:, t] + out.reshape(count, states)
        betas[:, t] = new / new.sum(axis=-1, keepdims=True)
    after = betas[:, 1:]
    stays = (alphas[:, :-1] * stay * after).sum(axis=-1)
    moves = (into * after).reshape(count, steps, block, NUM_BASES).sum(axis=2)
    table = np.concatenate([stays[..., None], moves], axis=-1)
    table /= table.sum(axis=-1, keepdims=True)
    return table[0] if single else table


def _compiled_posteriors(w: np.ndarray, starts: np.ndarray, steps: int, top: int) -> np.ndarray:
    """``step_posteriors`` of the segments ``w[start:start + steps]`` with the numba kernel, one
    segment at a time through one reused buffer (no read-sized temporaries)."""
    table = np.empty((len(starts), steps, NUM_TRANSITIONS), dtype=np.float32)
    scaled = np.empty((steps,) + w.shape[1:], dtype=np.float32)
    e = np.empty((steps, NUM_TRANSITIONS, w.shape[1]), dtype=np.float32)  # transposed: contiguous over states
    for i, start in enumerate(starts):
        piece = w[start:start + steps]
        np.subtract(piece, piece.reshape(steps, -1).max(axis=1)[:, None, None], out=scaled)
        np.exp(scaled, out=scaled)
        e[...] = scaled.transpose(0, 2, 1)
        table[i] = _kernels().posterior_table(e, top)
    return table


def beam_search(scores: np.ndarray, state_len: int, beam_size: int = 5) -> np.ndarray:
    """Beam search over (base prefix, state) hypotheses; a hypothesis's score sums every path
    with that prefix (hypotheses reaching the same prefix by a stay and a move are merged).
    scores ``(n, T, 4^k * 5)`` -> the states ``(n, T + 1)`` and moves ``(n, T)`` of the best
    path of each best hypothesis."""
    layout = CRFLayout(state_len)
    w = _as_scores(scores, layout)
    count, steps, states, _ = w.shape
    top, rows = layout.top, np.arange(count)[:, None]
    state = np.tile(np.arange(states), (count, 1))
    prefix = state.astype(np.uint64) + np.uint64(1)
    score = np.zeros((count, states), dtype=np.float64)
    parents, kept_states, kept_moves = [], [state], []
    base = np.arange(NUM_BASES)
    for t in range(steps):
        wt = w[:, t]
        width = state.shape[1]
        succ = (state[:, :, None] % top) * NUM_BASES + base  # (n, H, 4)
        via = (state // top + 1)[:, :, None]
        cand_score = np.concatenate([score + wt[rows, state, 0],
                                     (score[:, :, None] + wt[rows[:, :, None], succ, via]).reshape(count, -1)], axis=1)
        cand_prefix = np.concatenate([prefix, (prefix[:, :, None] * _HASH + (base + 1).astype(np.uint64))
                                      .reshape(count, -1)], axis=1)
        cand_state = np.concatenate([state, succ.reshape(count, -1)], axis=1)
        cand_parent = np.concatenate([np.arange(width), np.repeat(np.arange(width), NUM_BASES)])[None].repeat(count, 0)
        cand_move = np.concatenate([np.zeros(width, bool), np.ones(width * NUM_BASES, bool)])[None].repeat(count, 0)
        # merge equal prefixes (at most two: the stay of one and a move of another)
        order = np.argsort(cand_prefix, axis=1, kind="stable")
        cand_score, cand_prefix = np.take_along_axis(cand_score, order, 1), np.take_along_axis(cand_prefix, order, 1)
        cand_state, cand_parent = np.take_along_axis(cand_state, order, 1), np.take_along_axis(cand_parent, order, 1)
        cand_move = np.take_along_axis(cand_move, order, 1)
        same = np.zeros_like(cand_score, dtype=bool)
        same[:, 1:] = cand_prefix[:, 1:] == cand_prefix[:, :-1]
        if same.any():
            first = np.roll(same, -1, axis=1)  # the partner before each duplicate
            better = cand_score[:, 1:] > cand_score[:, :-1]
            take = first[:, :-1] & better  # the best path of the merged pair follows the second
            cand_parent[:, :-1] = np.where(take, cand_parent[:, 1:], cand_parent[:, :-1])
            cand_move[:, :-1] = np.where(take, cand_move[:, 1:], cand_move[:, :-1])
            merged = np.logaddexp(cand_score[:, :-1], cand_score[:, 1:])
            cand_score[:, :-1] = np.where(first[:, :-1], merged, cand_score[:, :-1])
            cand_score[same] = -np.inf
        keep = min(beam_size, cand_score.shape[1])
        best = np.argpartition(-cand_score, keep - 1, axis=1)[:, :keep]
        score = np.take_along_axis(cand_score, best, 1)
        score -= score.max(axis=1, keepdims=True)
        prefix, state = np.take_along_axis(cand_prefix, best, 1), np.take_along_axis(cand_state, best, 1)
        parents.append(np.take_along_axis(cand_parent, best, 1))
        kept_moves.append(np.take_along_axis(cand_move, best, 1))
        kept_states.append(state)
    path = np.empty((count, steps + 1), dtype=np.int64)
    moves = np.empty((count, steps), dtype=np.uint8)
    hyp = score.argmax(axis=1)
    flat_rows = np.arange(count)
    for t in range(steps, 0, -1):
        path[:, t] = kept_states[t][flat_rows, hyp]
        moves[:, t - 1] = kept_moves[t - 1][flat_rows, hyp]
        hyp = parents[t - 1][flat_rows, hyp]
    path[:, 0] = kept_states[0][flat_rows, hyp]
    return path, moves


def _qualities(post: np.ndarray, moves: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A base's probability: the posterior mass of a move emitting it between the midpoints
    to its neighbouring moves (clipped to 1)."""
    starts = np.flatnonzero(moves)
    if not len(starts):
        return np.zeros(0)
    bounds = np.concatenate(([0], (starts[:-1] + starts[1:] + 1) // 2, [len(moves)]))
    cumulative = np.concatenate([np.zeros((1, post.shape[1])), np.cumsum(post, axis=0, dtype=np.float64)])
    column = labels + 1
    return np.clip(cumulative[bounds[1:], column] - cumulative[bounds[:-1], column], 0.0, 1.0)


def crf_decode(scores: np.ndarray, state_len: int, beam_size: int = 0,
               calibration: QscoreCalibration = QscoreCalibration(), include_start: bool = False,
               core: int | None | str = "auto", margin: int = MARGIN, compiled: bool | None = None,
               qualities: bool = True) -> Decoded:
    """Bases, qualities and move table of one read's scores ``(T, 4^k * 5)``: the Viterbi path
    (``beam_size`` 0) or the best hypothesis of a beam at least ``MIN_BEAM`` wide; qualities from
    forward-backward posteriors (``qualities=False``: none, and no forward-backward, which is
    most of a short read's decoding time).
    ``core``: segment length ("auto": ``COMPILED_CORE`` with numba, else ``CORE``; None: exact)."""
    layout = CRFLayout(state_len)
    w = _as_scores(scores, layout)
    steps = w.shape[0]
    if steps == 0:
        return Decoded("", np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint8))
    compiled = _compiled(compiled)
    if core == "auto":
        core = COMPILED_CORE if compiled else CORE
    starts, length = segment(steps, core, margin)
    flat = np.ascontiguousarray(w)  # the kernels read the segments in place; numpy needs copies
    pieces = None if compiled and not beam_size else _cut(w, starts, length).reshape(len(starts), length, -1)
    if beam_size > 0:
        paths, piece_moves = beam_search(pieces, state_len, max(beam_size, MIN_BEAM))
    elif compiled:
        paths, piece_moves, _ = _kernels().viterbi_paths(flat, starts, length, layout.top)
    else:
        paths, piece_moves = viterbi(pieces, state_len, False)[:2]
    owner, local = _owned(steps, starts, length, core)
    moves = piece_moves[owner, local]
    landed = paths[owner, local + 1]  # the state each step ends in
    labels = (landed[moves.astype(bool)] % NUM_BASES).astype(np.int64)
    if not qualities:
        quals = np.zeros(0, dtype=np.uint8)
    else:
        if compiled:
            post_pieces = _compiled_posteriors(flat, starts, length, layout.top)
        else:
            post_pieces = step_posteriors(pieces, state_len, False)
        quals = calibration.apply(phred_from_posterior(_qualities(post_pieces[owner, local], moves, labels)))
    sequence = _BASES[labels].tobytes().decode()
    if include_start:
        first = layout.kmer(int(paths[0, 0]))
        sequence = _BASES[first].tobytes().decode() + sequence
        if qualities:
            quals = np.concatenate([np.full(len(first), quals[0] if len(quals) else 1, dtype=np.uint8), quals])
    return Decoded(sequence, quals, moves)

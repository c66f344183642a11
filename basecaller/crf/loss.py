"""CRF loss in torch: log-space forward algorithm over the states, with an exact backward.

Both the partition function over every path and the score of the label's alignments are
forward recursions over a lattice ``alpha[t+1, s] = logsumexp_j(alpha[t, src[s, j]] + w[t, s, j])``.
``_LatticeLogZ`` runs it (vectorised over batch and states, one Python step per time step) and
its backward runs the matching beta recursion, so the gradient is the posterior of each
transition. The recursion is always float32 or float64 (never under autocast).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from basecaller.crf.layout import NUM_TRANSITIONS, CRFLayout

__all__ = ["crf_loss", "label_scores", "lattice_logz", "log_partition"]


def _transpose(src: np.ndarray) -> np.ndarray:
    """For each state, the flat indices ``s * J + j`` of the transitions that leave it
    (``src[s, j] == state``), padded with ``S * J`` (an extra slot that holds -inf)."""
    num_states, width = src.shape
    flat = src.reshape(-1)
    order = np.argsort(flat, kind="stable")
    counts = np.bincount(flat, minlength=num_states)
    table = np.full((num_states, max(int(counts.max()), 1)), num_states * width, dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(flat)) - np.repeat(starts, counts)
    table[flat[order], rank] = order
    return table


class _LatticeLogZ(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w: Tensor, src: Tensor, back: Tensor, init: Tensor, final: Tensor) -> Tensor:
        steps, batch, states, width = w.shape
        flat_src = src.reshape(-1)
        alphas = w.new_empty((steps + 1,) + init.shape)
        alphas[0] = init
        for t in range(steps):
            alphas[t + 1] = torch.logsumexp(alphas[t].index_select(1, flat_src).view(batch, states, width) + w[t],
                                            dim=-1)
        logz = torch.logsumexp(alphas[steps] + final, dim=-1)
        ctx.save_for_backward(w, src, back, final, alphas, logz)
        return logz

    @staticmethod
    def backward(ctx, grad: Tensor):
        w, src, back, final, alphas, logz = ctx.saved_tensors
        steps, batch, states, width = w.shape
        grad_w = torch.empty_like(w)
        ok = torch.isfinite(logz)
        scale = torch.where(ok, grad, torch.zeros_like(grad))[:, None, None]
        shift = torch.where(ok, logz, torch.zeros_like(logz))[:, None, None]
        beta = final.expand(batch, states)
        pad = w.new_full((batch, 1), float("-inf"))
        flat_src, flat_back = src.reshape(-1), back.reshape(-1)
        for t in range(steps - 1, -1, -1):
            edge = w[t] + beta[:, :, None]  # (N, S, J): transition into s, then the rest
            grad_w[t] = torch.exp(alphas[t].index_select(1, flat_src).view(batch, states, width) + edge - shift) * scale
            flat = torch.cat([edge.reshape(batch, states * width), pad], dim=1)
            beta = torch.logsumexp(flat.index_select(1, flat_back).view(batch, states, -1), dim=-1)
        return torch.nan_to_num(grad_w, nan=0.0), None, None, None, None


def lattice_logz(w: Tensor, src: np.ndarray, init: Tensor, final: Tensor) -> Tensor:
    """``log sum over paths of exp(sum of w)``: w (T, N, S, J) transition scores, src (S, J)
    source states, init / final (N, S) log-weights of start / end states -> (N,)."""
    src_t = torch.as_tensor(src, device=w.device)
    back = torch.as_tensor(_transpose(src), device=w.device)
    return _LatticeLogZ.apply(w, src_t, back, init.to(w.dtype), final.to(w.dtype))


def _recursion_dtype(scores: Tensor) -> torch.dtype:
    return torch.float64 if scores.dtype == torch.float64 else torch.float32


def log_partition(scores: Tensor, state_len: int) -> Tensor:
    """log Z over every path (any start and end state): scores (T, N, 4^k * 5) -> (N,)."""
    layout = CRFLayout(state_len)
    steps, batch, _ = scores.shape
    w = scores.to(_recursion_dtype(scores)).reshape(steps, batch, layout.num_states, NUM_TRANSITIONS)
    zeros = w.new_zeros((batch, layout.num_states))
    return lattice_logz(w, layout.sources, zeros, zeros)


@lru_cache(maxsize=64)
def _label_sources(positions: int) -> np.ndarray:
    index = np.arange(positions)
    return np.stack([index, np.maximum(index - 1, 0)], axis=1)


def label_scores(scores: Tensor, targets: Tensor, target_lengths: Tensor, state_len: int) -> Tensor:
    """log of the summed scores of every alignment of each label (targets 1..4, 0-padded):
    the path starts in the label's first k-mer and moves through its k-mers in order."""
    layout = CRFLayout(state_len)
    steps, batch, _ = scores.shape
    w = scores.to(_recursion_dtype(scores)).reshape(steps, batch, layout.num_states * NUM_TRANSITIONS)
    bases = torch.clamp(targets.to(w.device).long() - 1, min=0)
    positions = max(bases.shape[1] - state_len + 1, 1)
    if bases.shape[1] < state_len:
        bases = torch.nn.functional.pad(bases, (0, state_len - bases.shape[1]))
    kmers = sum(bases[:, i:i + positions] * 4 ** (state_len - 1 - i) for i in range(state_len))  # (N, P)
    stay = kmers * NUM_TRANSITIONS
    move = kmers[:, 1:] * NUM_TRANSITIONS + bases[:, :positions - 1] + 1  # into kmer i+1 from kmer i
    stay_w = torch.gather(w, 2, stay[None].expand(steps, -1, -1))
    move_w = torch.gather(w, 2, move[None].expand(steps, -1, -1))
    move_w = torch.cat([move_w.new_full((steps, batch, 1), float("-inf")), move_w], dim=2)
    lattice = torch.stack([stay_w, move_w], dim=3)  # (T, N, P, 2)
    index = torch.arange(positions, device=w.device)
    minus_inf = torch.tensor(float("-inf"), dtype=w.dtype, device=w.device)
    zero = torch.tensor(0.0, dtype=w.dtype, device=w.device)
    init = torch.where(index[None] == 0, zero, minus_inf).expand(batch, positions)
    ends = (target_lengths.to(w.device).long() - state_len)[:, None]
    final = torch.where(index[None] == ends, zero, minus_inf)
    return lattice_logz(lattice, _label_sources(positions), init, final)


def crf_loss(scores: Tensor, targets: Tensor, target_lengths: Tensor, state_len: int) -> Tensor:
    """Mean over the batch of ``(log Z - log Z_label) / label length``; scores (T, N, 4^k * 5).

    Labels that cannot be aligned (shorter than k, or more moves than steps) count zero, as
    CTC's ``zero_infinity``. Runs in float32 (float64 for float64 scores), outside autocast.
    """
    device_type = scores.device.type
    with torch.autocast(device_type=device_type, enabled=False):
        lengths = target_lengths.to(scores.device).long()
        feasible = (lengths >= state_len) & (lengths - state_len <= scores.shape[0])
        logz = log_partition(scores, state_len)
        label = label_scores(scores, targets, torch.where(feasible, lengths, torch.full_like(lengths, state_len)),
                             state_len)
        per_chunk = (logz - label) / lengths.clamp(min=1).to(logz.dtype)
        per_chunk = torch.where(feasible & torch.isfinite(per_chunk), per_chunk, torch.zeros_like(per_chunk))
        return per_chunk.sum() / max(int(feasible.sum()), 1)

"""The one contract every basecalling model keeps, and the one place its output is decoded.

``forward(signal (N, T)) -> scores (N, T // stride, C)``: CTC log-probabilities (C = 5) or CRF
transition scores (C = 4^k * 5), as ``config.head_type`` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from basecaller.crf.layout import NUM_TRANSITIONS
from basecaller.ctc.decode import Decoded, QscoreCalibration, beam_decode, greedy_decode
from basecaller.models.config import ModelConfig

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = ["BasecallModel", "decode_scores", "with_move_bias"]


@runtime_checkable
class BasecallModel(Protocol):
    """What training, inference and export rely on (``CTCModel`` and ``CRFModel`` keep it)."""

    config: ModelConfig

    @property
    def stride(self) -> int:
        """Signal samples per output step."""

    def __call__(self, signal: Tensor) -> Tensor:
        """signal: (N, T) float -> scores (N, T // stride, C)."""

    def for_inference(self) -> nn.Module:
        """This model in eval mode, its recurrent core as real torch modules where they exist."""


def with_move_bias(scores: np.ndarray, head_type: str, bias: float) -> np.ndarray:
    """A copy of one read's scores ``(T', C)`` with ``bias`` added to every base-emitting score:
    CRF, every move transition (a stay is unchanged); CTC, the blank's log-probability lowered.
    A positive bias calls more bases (fewer deletions, more insertions)."""
    shifted = np.array(scores, dtype=np.float32, copy=True)
    if head_type == "crf":
        shifted.reshape(shifted.shape[0], -1, NUM_TRANSITIONS)[:, :, 1:] += bias  # 0: the stay
    else:
        shifted[:, 0] -= bias
    return shifted


def decode_scores(scores: np.ndarray, config: ModelConfig, *, beam_size: int = 0,
                  calibration: QscoreCalibration = QscoreCalibration(), include_start: bool = False,
                  qualities: bool = True) -> Decoded:
    """Bases, qualities and moves of one read's stitched scores ``(T', C)``: CRF Viterbi/beam,
    CTC beam search, or CTC greedy (``beam_size`` 0). ``include_start`` (CRF): call the first
    k-mer too, so a chunk's call compares with its whole label. ``qualities=False`` (CRF): no
    qualities and no forward-backward pass (CTC qualities cost next to nothing and stay).
    ``config.move_bias`` (when not 0) shifts the scores first (``with_move_bias``)."""
    if config.move_bias:
        scores = with_move_bias(scores, config.head_type, config.move_bias)
    if config.head_type == "crf":
        from basecaller.crf import crf_decode

        return crf_decode(scores, int(config.head["state_len"]), beam_size=beam_size, calibration=calibration,
                          include_start=include_start, qualities=qualities)
    if beam_size > 0:
        return beam_decode(scores, beam_size=beam_size, calibration=calibration)
    return greedy_decode(scores, calibration=calibration)

"""A CRF output head over k-mer states (as bonito's CTC-CRF): loss, Viterbi and beam decoding.

For ``state_len`` k there are 4^k states, the last k bases. At each model step the network
scores, for every destination state, 5 transitions: a stay (index 0, the "blank") and a move
from each of its 4 predecessors (index 1 + the base the move drops). A move into state ``s``
emits the base ``s % 4`` (A, C, G, T). Scores are laid out ``(..., 4^k * 5)`` state-major.

Only torch (the loss) and numpy (decoding) below this package (and the CTC decoding records it shares).
"""

from basecaller.crf.decode import crf_decode, step_posteriors, viterbi
from basecaller.crf.layout import CRFLayout

__all__ = ["CRFLayout", "crf_decode", "crf_loss", "log_partition", "step_posteriors", "viterbi"]


def __getattr__(name: str):
    """The loss (torch) is imported on first use, so decoding alone never imports torch."""
    if name in ("crf_loss", "log_partition"):
        from basecaller.crf import loss

        return getattr(loss, name)
    raise AttributeError(f"module 'basecaller.crf' has no attribute {name!r}")

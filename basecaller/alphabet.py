"""Symbol tables: CTC labels for DNA (0 = blank/padding, 1..4 = ACGT)."""

from __future__ import annotations

import numpy as np

__all__ = ["BASES", "CTC_ALPHABET", "encode_bases", "decode_labels", "reverse_complement"]

BASES = "ACGT"
#: Index 0 is the CTC blank, 1..4 are A, C, G, T (as fast-ctc-decode and bonito expect).
CTC_ALPHABET = "N" + BASES

_ENCODE = np.zeros(256, dtype=np.uint8)
for _i, _b in enumerate(BASES, start=1):
    _ENCODE[ord(_b)] = _ENCODE[ord(_b.lower())] = _i
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def encode_bases(sequence: str) -> np.ndarray:
    """ACGT string -> uint8 labels 1..4 (any other symbol -> 0)."""
    return _ENCODE[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]


def decode_labels(labels: np.ndarray) -> str:
    """uint8 labels 1..4 -> ACGT string; zeros (padding) are dropped."""
    labels = np.asarray(labels)
    return "".join(BASES[i - 1] for i in labels[labels > 0])


def reverse_complement(sequence: str) -> str:
    return sequence.translate(_COMPLEMENT)[::-1]

"""CTC decoding (greedy and beam), per-base qualities and stitching of window outputs."""

from basecaller.ctc.decode import (
    ALPHABET,
    Decoded,
    QscoreCalibration,
    beam_decode,
    fit_qscore_calibration,
    greedy_decode,
    mean_qscore,
    phred_from_posterior,
)
from basecaller.ctc.stitch import decode_read

__all__ = [
    "ALPHABET",
    "Decoded",
    "QscoreCalibration",
    "beam_decode",
    "decode_read",
    "fit_qscore_calibration",
    "greedy_decode",
    "mean_qscore",
    "phred_from_posterior",
]

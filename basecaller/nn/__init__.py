"""The recurrent core: cells from their equations, layers over time, a fused fast path.

Every recurrent layer in the package comes from here (``Recurrent`` or ``build_recurrent``).
"""

from basecaller.nn.cells import (
    CELLS,
    CoupledLSTMCell,
    GRUCell,
    LSTMCell,
    PeepholeLSTMCell,
    RecurrentCell,
    RNNCell,
    make_cell,
)
from basecaller.nn.recurrent import (
    Recurrent,
    TorchRecurrent,
    length_mask,
    lengths_from_mask,
    reverse_padded,
    run_cell,
)
from basecaller.nn.registry import build_recurrent, register

__all__ = [
    "CELLS",
    "CoupledLSTMCell",
    "GRUCell",
    "LSTMCell",
    "PeepholeLSTMCell",
    "Recurrent",
    "RecurrentCell",
    "RNNCell",
    "TorchRecurrent",
    "build_recurrent",
    "length_mask",
    "lengths_from_mask",
    "make_cell",
    "register",
    "reverse_padded",
    "run_cell",
]

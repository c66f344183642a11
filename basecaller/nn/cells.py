"""Recurrent cells written from their equations.

Every cell keeps its weights in the layout of ``torch.nn.RNN``/``GRU``/``LSTM`` (gates stacked
along dim 0 in torch's order), so the same tensors can run through the fused kernels.

A cell splits one step in two, because the input half can be computed for all time steps at
once: ``project_input(x)`` gives ``W x + b_ih`` for (..., C) inputs, and ``step(x_proj, state)``
does the recurrent half. ``forward(x, state)`` chains them for one time step.
A state is always a tuple of (N, H) tensors: ``(h,)`` or ``(h, c)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "CELLS",
    "FUSED_CELLS",
    "GRUCell",
    "LSTMCell",
    "CoupledLSTMCell",
    "PeepholeLSTMCell",
    "RecurrentCell",
    "RNNCell",
    "make_cell",
]

State = tuple[Tensor, ...]


class RecurrentCell(nn.Module):
    """Base: weights ``weight_ih`` (G*H, C), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` (G*H,)."""

    num_gates: int = 1
    state_size: int = 1  # tensors in the state tuple

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        rows = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(rows))
        self.bias_hh = nn.Parameter(torch.empty(rows))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every weight, as torch does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def initial_state(self, batch_size: int, like: Tensor) -> State:
        """Zeros, one (N, H) tensor per state component, on ``like``'s device and dtype."""
        zeros = like.new_zeros(batch_size, self.hidden_size)
        return tuple(zeros for _ in range(self.state_size))

    def project_input(self, x: Tensor) -> Tensor:
        """x: (..., C) -> (..., G*H), the input half of every gate pre-activation."""
        return nn.functional.linear(x, self.weight_ih, self.bias_ih)

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step from the projected input (N, G*H); returns (h (N, H), new state)."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x: (N, C), state: tuple of (N, H) -> (h (N, H), new state)."""
        if state is None:
            state = self.initial_state(x.shape[0], x)
        return self.step(self.project_input(x), state)

    def _recurrent(self, h: Tensor) -> Tensor:
        return nn.functional.linear(h, self.weight_hh, self.bias_hh)


class RNNCell(RecurrentCell):
    """Elman RNN.

    h_t = tanh(W x_t + b_ih + U h_{t-1} + b_hh)
    """

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        h = torch.tanh(x_proj + self._recurrent(h))
        return h, (h,)


class GRUCell(RecurrentCell):
    """Gated recurrent unit (torch's gate order r, z, n).

    r_t = sigmoid(W_r x_t + b_ir + U_r h_{t-1} + b_hr)            reset gate
    z_t = sigmoid(W_z x_t + b_iz + U_z h_{t-1} + b_hz)            update gate
    n_t = tanh(W_n x_t + b_in + r_t * (U_n h_{t-1} + b_hn))       candidate
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}
    """

    num_gates = 3

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        (h,) = state
        xr, xz, xn = x_proj.chunk(3, dim=-1)
        hr, hz, hn = self._recurrent(h).chunk(3, dim=-1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        return h, (h,)


class LSTMCell(RecurrentCell):
    """Long short-term memory (torch's gate order i, f, g, o); forget-gate bias starts at 1.

    i_t = sigmoid(W_i x_t + U_i h_{t-1} + b_i)       input gate
    f_t = sigmoid(W_f x_t + U_f h_{t-1} + b_f)       forget gate
    g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)          candidate
    o_t = sigmoid(W_o x_t + U_o h_{t-1} + b_o)       output gate
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)
    """

    num_gates = 4
    state_size = 2
    forget_gate = 1  # index of the forget gate's block in the stacked weights

    def reset_parameters(self) -> None:
        """Uniform weights, then b_f = 1 (split as b_if = 1, b_hf = 0) so memories start long."""
        super().reset_parameters()
        rows = slice(self.forget_gate * self.hidden_size, (self.forget_gate + 1) * self.hidden_size)
        with torch.no_grad():
            self.bias_ih[rows] = 1.0
            self.bias_hh[rows] = 0.0

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, f, g, o = (x_proj + self._recurrent(h)).chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, (h, c)


class PeepholeLSTMCell(LSTMCell):
    """LSTM whose gates also see the cell state (Gers & Schmidhuber 2000).

    i_t = sigmoid(W_i x_t + U_i h_{t-1} + p_i * c_{t-1} + b_i)
    f_t = sigmoid(W_f x_t + U_f h_{t-1} + p_f * c_{t-1} + b_f)
    g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)
    c_t = f_t * c_{t-1} + i_t * g_t
    o_t = sigmoid(W_o x_t + U_o h_{t-1} + p_o * c_t + b_o)
    h_t = o_t * tanh(c_t)

    ``peephole`` is (3, H): rows p_i, p_f, p_o (diagonal weights).
    """

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__(input_size, hidden_size)
        self.peephole = nn.Parameter(torch.zeros(3, hidden_size))

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        h, c_prev = state
        p_i, p_f, p_o = self.peephole
        i, f, g, o = (x_proj + self._recurrent(h)).chunk(4, dim=-1)
        i = torch.sigmoid(i + p_i * c_prev)
        f = torch.sigmoid(f + p_f * c_prev)
        g = torch.tanh(g)
        c = f * c_prev + i * g
        o = torch.sigmoid(o + p_o * c)
        h = o * torch.tanh(c)
        return h, (h, c)


class CoupledLSTMCell(LSTMCell):
    """LSTM with coupled input and forget gates (CIFG): f_t = 1 - i_t. Gate order i, g, o.

    i_t = sigmoid(W_i x_t + U_i h_{t-1} + b_i)
    g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)
    o_t = sigmoid(W_o x_t + U_o h_{t-1} + b_o)
    c_t = (1 - i_t) * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)

    The forget bias of 1 becomes b_i = -1, since 1 - sigmoid(-1) = sigmoid(1).
    """

    num_gates = 3

    def reset_parameters(self) -> None:
        RecurrentCell.reset_parameters(self)
        with torch.no_grad():
            self.bias_ih[: self.hidden_size] = -1.0
            self.bias_hh[: self.hidden_size] = 0.0

    def step(self, x_proj: Tensor, state: State) -> tuple[Tensor, State]:
        h, c = state
        i, g, o = (x_proj + self._recurrent(h)).chunk(3, dim=-1)
        i, g, o = torch.sigmoid(i), torch.tanh(g), torch.sigmoid(o)
        c = (1 - i) * c + i * g
        h = o * torch.tanh(c)
        return h, (h, c)


CELLS: dict[str, type[RecurrentCell]] = {
    "rnn": RNNCell,
    "gru": GRUCell,
    "lstm": LSTMCell,
    "lstm_peephole": PeepholeLSTMCell,
    "lstm_coupled": CoupledLSTMCell,
}

# Cells whose equations torch's fused modules compute exactly, with the same weight layout.
FUSED_CELLS: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def make_cell(name: str, input_size: int, hidden_size: int) -> RecurrentCell:
    """Build a cell by name (one of ``CELLS``)."""
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; expected one of {sorted(CELLS)}")
    return CELLS[name](input_size, hidden_size)

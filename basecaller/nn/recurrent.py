"""Recurrent layers: any cell over time, stacked, bidirectional or alternating, ragged batches.

Two execution paths share one set of parameters (those of the cells):

* the own path runs the cell equations step by step in Python (any cell);
* the fused path runs the same tensors through ``torch.nn.RNN``/``GRU``/``LSTM`` (cuDNN on a
  GPU), via ``torch.func.functional_call``; it is chosen automatically for plain cells.

Because the parameters are the same objects, a state_dict saved from one path loads into the
other. ``Recurrent.to_torch_module()`` exports real torch modules (for dynamic int8 quantisation)
and ``Recurrent.load_torch_module()`` reads them back.

States follow torch's convention: (L*D, N, H) tensors, a pair ``(h, c)`` for LSTM cells and a
single tensor ``h`` for GRU and RNN cells, row ``layer * D + direction``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from basecaller.nn.cells import CELLS, FUSED_CELLS, RecurrentCell, make_cell

__all__ = [
    "DIRECTIONS",
    "Recurrent",
    "TorchRecurrent",
    "length_mask",
    "lengths_from_mask",
    "reverse_padded",
    "run_cell",
]

DIRECTIONS = ("forward", "bidirectional", "alternating")
StateTuple = tuple[Tensor, ...]


def length_mask(lengths: Tensor, max_len: int) -> Tensor:
    """lengths: (N,) -> (N, T) bool, True at valid (non-padded) positions."""
    steps = torch.arange(max_len, device=lengths.device)
    return steps[None, :] < lengths[:, None]


def lengths_from_mask(mask: Tensor) -> Tensor:
    """Padding mask (N, T), True at valid steps (a prefix of each row) -> lengths (N,)."""
    lengths = mask.sum(dim=1)
    if not torch.equal(mask, length_mask(lengths, mask.shape[1])):
        raise ValueError("the mask must mark a prefix of each sequence as valid")
    return lengths


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence of x (N, T, C) within its own length; padding stays in place."""
    if lengths is None:
        return x.flip(1)
    steps = torch.arange(x.shape[1], device=x.device)
    lengths = lengths.to(x.device)
    index = lengths[:, None] - 1 - steps[None, :]  # (N, T)
    index = torch.where(index >= 0, index, steps[None, :])
    return x.gather(1, index[:, :, None].expand_as(x))


def run_cell(
    cell: RecurrentCell,
    x: Tensor,
    lengths: Tensor | None = None,
    state: StateTuple | None = None,
    reverse: bool = False,
) -> tuple[Tensor, StateTuple]:
    """Run one cell over time.

    x: (N, T, C); lengths: (N,) or None; state: tuple of (N, H) or None.
    Returns out (N, T, H), zero at padded steps, and the state after each sequence's last
    valid step (its first, when ``reverse``: the reverse direction starts at each sequence's end).
    """
    if reverse:
        x = reverse_padded(x, lengths)
    if state is None:
        state = cell.initial_state(x.shape[0], x)
    valid = None if lengths is None else length_mask(lengths.to(x.device), x.shape[1])
    x_proj = cell.project_input(x)  # (N, T, G*H), all input halves at once
    outputs = []
    for t in range(x.shape[1]):
        h, new_state = cell.step(x_proj[:, t], state)
        if valid is not None:
            keep = valid[:, t, None]  # (N, 1); padded steps hold the state and output zero
            new_state = tuple(torch.where(keep, new, old) for new, old in zip(new_state, state))
            h = h.masked_fill(~keep, 0.0)
        state = new_state
        outputs.append(h)
    out = torch.stack(outputs, dim=1)  # (N, T, H)
    return (reverse_padded(out, lengths) if reverse else out), state


def _torch_hx(state: StateTuple | None, is_lstm: bool):
    """Internal state tuple -> what torch's modules take: (h, c) for LSTM, h otherwise."""
    if state is None:
        return None
    return state if is_lstm else state[0]


def _as_tuple(state) -> StateTuple | None:
    """Public state (tensor or pair) -> internal tuple."""
    if state is None or isinstance(state, tuple):
        return state
    return (state,)


def _run_torch_layer(module: nn.RNNBase, x, lengths, hx, reverse: bool, params=None):
    """One torch RNN module over x (N, T, C), optionally with substituted parameters."""

    def call(inputs):
        if params is None:
            return module(inputs, hx)
        return functional_call(module, params, (inputs, hx))

    if reverse:
        x = reverse_padded(x, lengths)
    if lengths is None:
        out, h_n = call(x)
    else:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = call(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    if reverse:
        out = reverse_padded(out, lengths)
    return out, _as_tuple(h_n)


def _layer_state(state: StateTuple | None, layer: int, num_directions: int):
    """Rows of the (L*D, N, H) state tensors that belong to one layer: (D, N, H) each."""
    if state is None:
        return None
    rows = slice(layer * num_directions, (layer + 1) * num_directions)
    return tuple(part[rows] for part in state)


def _cat_states(states: list[StateTuple]) -> StateTuple:
    """Per-layer (D, N, H) state tuples -> (L*D, N, H) tuple."""
    return tuple(torch.cat(parts, dim=0) for parts in zip(*states))


def _run_torch_stack(modules, params, reverse, x, lengths, state, dropout, training):
    """Layers of torch RNN modules, dropout between; the fused path and TorchRecurrent use it."""
    is_lstm = modules[0].mode == "LSTM"
    num_directions = 2 if modules[0].bidirectional else 1
    finals = []
    for layer, module in enumerate(modules):
        hx = _torch_hx(_layer_state(state, layer, num_directions), is_lstm)
        layer_params = None if params is None else params[layer]
        x, h_n = _run_torch_layer(module, x, lengths, hx, reverse[layer], layer_params)
        finals.append(h_n)
        if layer < len(modules) - 1:
            x = nn.functional.dropout(x, dropout, training)
    return x, _cat_states(finals)


class Recurrent(nn.Module):
    """A stack of recurrent layers built from one cell type.

    Args:
        cell: "lstm", "gru", "rnn", "lstm_peephole" or "lstm_coupled".
        input_size: C, features per input step.
        hidden_size: H, features per direction.
        num_layers: L.
        direction: "forward"; "bidirectional" (both directions per layer, concatenated);
            "alternating" (one direction per layer: forward, reverse, forward, ...).
        dropout: dropout probability on the outputs of every layer but the last.
        fused: run through torch's fused modules; None picks them whenever the cell allows.

    ``forward(x, lengths=None, state=None) -> (out, final_state)``:
        x: (N, T, C) batch-first; lengths: (N,) ints >= 1, or None for full length
            (or ``mask=``, a (N, T) padding mask, True at valid steps).
        state: initial state, (L*D, N, H) tensors ((h, c) for LSTM cells, h otherwise), or None.
        out: (N, T, output_size), output_size = H * D; zero at padded positions.
        final_state: like state, taken at each sequence's own end (its start, for reverse
        directions).
    """

    def __init__(
        self,
        cell: str = "lstm",
        input_size: int | None = None,
        hidden_size: int | None = None,
        num_layers: int = 1,
        direction: str = "forward",
        dropout: float = 0.0,
        fused: bool | None = None,
    ):
        super().__init__()
        if input_size is None or hidden_size is None:
            raise TypeError("Recurrent needs input_size and hidden_size")
        _check_options(cell, direction, num_layers, fused)
        self.cell = cell
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.direction = direction
        self.dropout = dropout
        self.num_directions = 2 if direction == "bidirectional" else 1
        self.output_size = hidden_size * self.num_directions
        self.fused = cell in FUSED_CELLS if fused is None else fused
        self.layers = nn.ModuleList(self._make_layer(layer) for layer in range(num_layers))
        self._templates: list[nn.RNNBase] | None = None  # meta-device shells for the fused path

    def _make_layer(self, layer: int) -> nn.ModuleList:
        size_in = self.input_size if layer == 0 else self.output_size
        return nn.ModuleList(
            make_cell(self.cell, size_in, self.hidden_size) for _ in range(self.num_directions)
        )

    def is_reversed(self, layer: int, index: int) -> bool:
        """Whether cell ``index`` of ``layer`` reads its sequence from the end."""
        if self.direction == "bidirectional":
            return index == 1
        return self.direction == "alternating" and layer % 2 == 1

    @property
    def is_lstm(self) -> bool:
        return CELLS[self.cell].state_size == 2

    def forward(self, x: Tensor, lengths: Tensor | None = None, state=None, *, mask=None):
        """x: (N, T, C) -> (out (N, T, H*D), final state); see the class docstring.

        ``mask`` (N, T), True at valid steps, may be given instead of ``lengths``.
        """
        if mask is not None:
            lengths = lengths_from_mask(mask)
        state = _as_tuple(state)
        if self.fused:
            out, final = self._forward_fused(x, lengths, state)
        else:
            out, final = self._forward_own(x, lengths, state)
        return out, (final if self.is_lstm else final[0])

    def _forward_own(self, x, lengths, state):
        finals = []
        for layer, cells in enumerate(self.layers):
            outputs = []
            for index, cell in enumerate(cells):
                row = layer * self.num_directions + index
                cell_state = None if state is None else tuple(part[row] for part in state)
                reverse = self.is_reversed(layer, index)
                out, final = run_cell(cell, x, lengths, cell_state, reverse)
                outputs.append(out)
                finals.append(final)
            x = torch.cat(outputs, dim=-1)  # (N, T, H*D)
            if layer < self.num_layers - 1:
                x = nn.functional.dropout(x, self.dropout, self.training)
        final_state = tuple(torch.stack(parts) for parts in zip(*finals))  # (L*D, N, H) each
        return x, final_state

    def _forward_fused(self, x, lengths, state):
        params = [self._torch_layer_params(layer) for layer in range(self.num_layers)]
        reverse = [self.is_reversed(layer, 0) for layer in range(self.num_layers)]
        templates = self._fused_templates()
        return _run_torch_stack(
            templates, params, reverse, x, lengths, state, self.dropout, self.training
        )

    def _fused_templates(self) -> list[nn.RNNBase]:
        if self._templates is None:
            self._templates = self._make_torch_modules(device="meta")
        return self._templates

    def _make_torch_modules(self, device=None) -> list[nn.RNNBase]:
        if self.cell not in FUSED_CELLS:
            raise ValueError(f"cell {self.cell!r} has no fused torch equivalent")
        module_type = FUSED_CELLS[self.cell]
        return [
            module_type(
                self.layers[layer][0].input_size,
                self.hidden_size,
                batch_first=True,
                bidirectional=self.num_directions == 2,
                device=device,
            )
            for layer in range(self.num_layers)
        ]

    def _torch_layer_params(self, layer: int) -> dict[str, Tensor]:
        """This layer's cell parameters under torch's names (weight_ih_l0, ..._reverse)."""
        params = {}
        for index, cell in enumerate(self.layers[layer]):
            suffix = "_reverse" if index == 1 else ""
            for name, value in cell.named_parameters():
                params[f"{name}_l0{suffix}"] = value
        return params

    def to_torch_module(self) -> TorchRecurrent:
        """A copy as real torch.nn.LSTM/GRU/RNN modules, one per layer (same forward contract),
        in this module's mode (an eval-mode copy applies no dropout).

        Suits ``torch.ao.quantization.quantize_dynamic`` for int8 CPU inference.
        """
        modules = self._make_torch_modules(device=self.layers[0][0].weight_ih.device)
        for layer, module in enumerate(modules):
            params = self._torch_layer_params(layer)
            module.load_state_dict({name: value.detach() for name, value in params.items()})
            module.to(self.layers[0][0].weight_ih.dtype)
        reverse = [self.is_reversed(layer, 0) for layer in range(self.num_layers)]
        return TorchRecurrent(modules, reverse, self.dropout).train(self.training)

    def load_torch_module(self, module: TorchRecurrent) -> None:
        """Copy weights from a TorchRecurrent of the same shape into this module's cells."""
        with torch.no_grad():
            for layer, torch_layer in enumerate(module.layers):
                for name, value in self._torch_layer_params(layer).items():
                    value.copy_(getattr(torch_layer, name))

    def extra_repr(self) -> str:
        return (
            f"cell={self.cell!r}, {self.input_size}->{self.hidden_size}, "
            f"num_layers={self.num_layers}, direction={self.direction!r}, "
            f"dropout={self.dropout}, fused={self.fused}"
        )


def _check_options(cell: str, direction: str, num_layers: int, fused: bool | None) -> None:
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; expected one of {sorted(CELLS)}")
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; expected one of {DIRECTIONS}")
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1, got {num_layers}")
    if fused and cell not in FUSED_CELLS:
        raise ValueError(f"cell {cell!r} has no fused path; use fused=None or False")


class TorchRecurrent(nn.Module):
    """Real torch RNN modules, one per layer, with Recurrent's forward contract.

    ``layers[k]`` is a batch-first torch.nn.LSTM/GRU/RNN (bidirectional for bidirectional stacks);
    ``reverse[k]`` says the layer reads its sequences from their ends (alternating stacks).
    """

    def __init__(self, layers: Sequence[nn.RNNBase], reverse: Sequence[bool], dropout: float = 0.0):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.reverse = list(reverse)
        self.dropout = dropout

    def forward(self, x: Tensor, lengths: Tensor | None = None, state=None):
        """x: (N, T, C) -> (out (N, T, H*D), final state), as Recurrent.forward."""
        out, final = _run_torch_stack(
            list(self.layers),
            None,
            self.reverse,
            x,
            lengths,
            _as_tuple(state),
            self.dropout,
            self.training,
        )
        return out, (final if len(final) == 2 else final[0])

"""The cells: gradients by finite differences, equations against torch and by hand."""

import pytest
import torch
from torch.autograd import gradcheck
from torch.func import functional_call

from basecaller.nn.cells import CELLS, make_cell

TORCH_CELLS = {"rnn": torch.nn.RNNCell, "gru": torch.nn.GRUCell, "lstm": torch.nn.LSTMCell}


def _random_state(cell, batch, dtype=torch.float64):
    return tuple(torch.randn(batch, cell.hidden_size, dtype=dtype) for _ in range(cell.state_size))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradcheck_every_cell_float64(name):
    torch.manual_seed(0)
    cell = make_cell(name, 3, 2).double()
    with torch.no_grad():  # peepholes start at zero; make their gradient path non-trivial
        for param in cell.parameters():
            param.add_(0.3 * torch.randn_like(param))
    names = [n for n, _ in cell.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in cell.parameters()]
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    state = [s.requires_grad_() for s in _random_state(cell, 2)]

    def two_steps(x, *tensors):
        state, weights = tensors[: cell.state_size], tensors[cell.state_size :]
        weights = dict(zip(names, weights))
        h, state = functional_call(cell, weights, (x, tuple(state)))
        h, state = functional_call(cell, weights, (x * 0.5, state))
        return (h, *state)

    assert gradcheck(two_steps, (x, *state, *params), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", sorted(TORCH_CELLS))
def test_plain_cells_match_torch_cells(name):
    torch.manual_seed(1)
    cell = make_cell(name, 4, 3).double()
    reference = TORCH_CELLS[name](4, 3).double()
    reference.load_state_dict(cell.state_dict())
    x = torch.randn(5, 4, dtype=torch.float64)
    state = _random_state(cell, 5)
    h, new_state = cell(x, state)
    expected = reference(x, state if name == "lstm" else state[0])
    expected = expected if isinstance(expected, tuple) else (expected,)
    torch.testing.assert_close(h, expected[0])
    for ours, theirs in zip(new_state, expected):
        torch.testing.assert_close(ours, theirs)


def test_lstm_forget_bias_starts_at_one():
    cell = make_cell("lstm", 3, 4)
    forget = slice(4, 8)
    total = cell.bias_ih + cell.bias_hh
    assert torch.equal(total[forget], torch.ones(4))
    assert not torch.equal(total[:4], torch.ones(4))


def test_coupled_lstm_forgets_one_minus_input_gate():
    cell = make_cell("lstm_coupled", 2, 3).double()
    with torch.no_grad():
        for param in cell.parameters():
            param.zero_()
        cell.bias_ih[:3] = torch.tensor([-2.0, 0.0, 2.0])  # input gates; g = tanh(0) = 0
    c_prev = torch.ones(1, 3, dtype=torch.float64)
    _, (_, c) = cell(torch.zeros(1, 2, dtype=torch.float64), (torch.zeros_like(c_prev), c_prev))
    expected = 1 - torch.sigmoid(torch.tensor([[-2.0, 0.0, 2.0]], dtype=torch.float64))
    torch.testing.assert_close(c, expected)
    fresh = make_cell("lstm_coupled", 2, 3)
    forget_bias = 1 - torch.sigmoid(fresh.bias_ih[:3] + fresh.bias_hh[:3])
    torch.testing.assert_close(forget_bias, torch.sigmoid(torch.ones(3)))


def test_peephole_lstm_reduces_to_lstm_and_sees_the_cell():
    torch.manual_seed(2)
    plain, peephole = make_cell("lstm", 3, 4).double(), make_cell("lstm_peephole", 3, 4).double()
    peephole.load_state_dict(plain.state_dict(), strict=False)
    x, state = torch.randn(2, 3, dtype=torch.float64), _random_state(plain, 2)
    torch.testing.assert_close(peephole(x, state)[0], plain(x, state)[0])
    with torch.no_grad():
        peephole.peephole[2] = 1.0  # output gate peeks at c_t
    h, (_, c) = peephole(x, state)
    _, (_, c_plain) = plain(x, state)
    pre = torch.nn.functional.linear(x, plain.weight_ih, plain.bias_ih)
    pre = pre + torch.nn.functional.linear(state[0], plain.weight_hh, plain.bias_hh)
    o = torch.sigmoid(pre[:, 12:] + c)
    torch.testing.assert_close(h, o * torch.tanh(c_plain))


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="unknown cell"):
        make_cell("transformer", 2, 2)

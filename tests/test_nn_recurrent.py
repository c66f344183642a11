"""Layers over time: own path against the fused path, ragged batches, states, export, registry."""

import pytest
import torch

from basecaller.nn import Recurrent, build_recurrent, register, reverse_padded, run_cell
from basecaller.nn.registry import REGISTRY

LENGTHS = torch.tensor([6, 2, 4])


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _inputs(model, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 6, model.input_size, dtype=torch.float64, generator=generator)
    rows = model.num_layers * model.num_directions
    state = tuple(
        torch.randn(rows, 3, model.hidden_size, dtype=torch.float64, generator=generator)
        for _ in range(2 if model.is_lstm else 1)
    )
    return x.requires_grad_(), state if model.is_lstm else state[0]


def _run(model, fused, x, state, lengths):
    """Outputs and gradients of a fixed scalar function of out and final state."""
    model.fused = fused
    model.zero_grad()
    x.grad = None
    out, final = model(x, lengths, state)
    weights = torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)
    loss = (out * weights).sum() + sum((part**2).sum() for part in _as_tuple(final))
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    return out.detach(), [s.detach() for s in _as_tuple(final)], x.grad.clone(), grads


@pytest.mark.parametrize("direction", ["forward", "bidirectional", "alternating"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fused_and_own_paths_agree_forward_and_backward(cell, direction):
    torch.manual_seed(0)
    model = Recurrent(cell, 3, 4, num_layers=2, direction=direction).double()
    x, state = _inputs(model)
    for lengths in (LENGTHS, None):
        own = _run(model, False, x, state, lengths)
        fused = _run(model, True, x, state, lengths)
        for ours, theirs in zip(own[:3], fused[:3]):
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
        for name in own[3]:
            torch.testing.assert_close(own[3][name], fused[3][name], rtol=1e-5, atol=1e-5)


def test_fast_path_is_chosen_automatically_for_plain_cells_only():
    assert Recurrent("lstm", 2, 3).fused and Recurrent("gru", 2, 3).fused
    assert not Recurrent("lstm_peephole", 2, 3).fused
    assert not Recurrent("lstm", 2, 3, fused=False).fused
    with pytest.raises(ValueError, match="no fused path"):
        Recurrent("lstm_coupled", 2, 3, fused=True)


@pytest.mark.parametrize("cell", ["lstm", "lstm_peephole", "gru"])
def test_ragged_batch_matches_each_sequence_run_alone(cell):
    torch.manual_seed(1)
    model = Recurrent(cell, 3, 4, num_layers=2, direction="bidirectional").double()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    out, final = model(x, LENGTHS)
    assert out.shape == (3, 6, model.output_size) == (3, 6, 8)
    for i, length in enumerate(LENGTHS.tolist()):
        alone, alone_final = model(x[i : i + 1, :length])
        torch.testing.assert_close(out[i : i + 1, :length], alone)
        assert torch.all(out[i, length:] == 0)
        for part, alone_part in zip(_as_tuple(final), _as_tuple(alone_final)):
            torch.testing.assert_close(part[:, i : i + 1], alone_part)


def test_reverse_direction_starts_at_each_sequences_end():
    x = torch.arange(8.0).reshape(2, 4, 1)
    flipped = reverse_padded(x, torch.tensor([4, 2]))
    assert flipped[:, :, 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]
    torch.testing.assert_close(reverse_padded(flipped, torch.tensor([4, 2])), x)


def test_alternating_stack_reverses_every_second_layer():
    torch.manual_seed(2)
    model = Recurrent("gru", 2, 3, num_layers=2, direction="alternating", fused=False)
    x = torch.randn(2, 5, 2)
    first, _ = run_cell(model.layers[0][0], x, LENGTHS[:2].clamp(max=5))
    expected, _ = run_cell(model.layers[1][0], first, LENGTHS[:2].clamp(max=5), reverse=True)
    out, _ = model(x, LENGTHS[:2].clamp(max=5))
    torch.testing.assert_close(out, expected)
    assert model.output_size == 3


def test_state_carries_over_between_calls():
    torch.manual_seed(3)
    for fused in (True, False):
        model = Recurrent("lstm", 2, 3, num_layers=2, fused=fused)
        x = torch.randn(2, 8, 2)
        whole, _ = model(x)
        first, state = model(x[:, :5])
        second, _ = model(x[:, 5:], state=state)
        torch.testing.assert_close(torch.cat([first, second], dim=1), whole)


def test_state_dict_loads_between_fused_and_own_paths():
    torch.manual_seed(4)
    fused = Recurrent("lstm", 3, 4, num_layers=2, direction="bidirectional", fused=True)
    own = Recurrent("lstm", 3, 4, num_layers=2, direction="bidirectional", fused=False)
    own.load_state_dict(fused.state_dict())
    x = torch.randn(3, 6, 3)
    torch.testing.assert_close(own(x, LENGTHS)[0], fused(x, LENGTHS)[0])


def test_torch_module_export_keeps_eval_mode_so_dropout_is_off():
    """An eval-mode core with dropout exports to an eval-mode copy: the same outputs, every call
    (a training-mode copy would drop units at inference)."""
    torch.manual_seed(6)
    model = Recurrent("lstm", 3, 8, num_layers=3, direction="alternating", dropout=0.5).eval()
    exported = model.to_torch_module()
    assert not exported.training and model.train().to_torch_module().training
    x = torch.randn(3, 6, 3)
    expected, _ = model.eval()(x, LENGTHS)
    for _ in range(2):
        torch.testing.assert_close(exported(x, LENGTHS)[0], expected)


def test_a_basecaller_with_dropout_calls_the_same_after_for_inference():
    """``for_inference`` (eval, then the fused core as torch modules) leaves dropout off."""
    from basecaller.models.crf import build_model
    from basecaller.models.directory import load_model

    trained = load_model("r941_4khz_lite")
    config = trained.config
    config.encoder = {**config.encoder, "dropout": 0.3}
    model = build_model(config)
    model.load_state_dict(trained.state_dict())
    signal = torch.randn(2, 2000)
    with torch.no_grad():
        expected = trained.eval()(signal)
        torch.testing.assert_close(model.for_inference()(signal), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("direction", ["bidirectional", "alternating"])
def test_torch_module_export_round_trip_and_quantises(direction):
    torch.manual_seed(5)
    model = Recurrent("lstm", 3, 4, num_layers=3, direction=direction).eval()
    exported = model.to_torch_module().eval()
    assert all(isinstance(layer, torch.nn.LSTM) for layer in exported.layers)
    x = torch.randn(3, 6, 3)
    expected, _ = model(x, LENGTHS)
    torch.testing.assert_close(exported(x, LENGTHS)[0], expected)
    copy = Recurrent("lstm", 3, 4, num_layers=3, direction=direction)
    copy.load_torch_module(exported)
    torch.testing.assert_close(copy.eval()(x, LENGTHS)[0], expected)
    quantised = torch.ao.quantization.quantize_dynamic(exported, {torch.nn.LSTM}, torch.qint8)
    assert not any(isinstance(layer, torch.nn.LSTM) for layer in quantised.layers)
    torch.testing.assert_close(quantised(x, LENGTHS)[0], expected, atol=0.05, rtol=0)


def test_dropout_only_between_layers_and_only_in_training():
    torch.manual_seed(6)
    model = Recurrent("gru", 3, 4, num_layers=2, dropout=0.5)
    x = torch.randn(2, 5, 3)
    model.eval()
    eval_out = model(x)[0]
    model.dropout = 0.0
    torch.testing.assert_close(model(x)[0], eval_out)
    single = Recurrent("gru", 3, 4, num_layers=1, dropout=0.5).train()
    torch.testing.assert_close(single(x)[0], single.eval()(x)[0])
    model.dropout = 0.5
    assert not torch.allclose(model.train()(x)[0], eval_out)


def test_registry_builds_from_plain_dict_and_accepts_new_types():
    layer = build_recurrent(
        {"type": "lstm", "hidden_size": 6, "num_layers": 4, "direction": "alternating"}, 5
    )
    assert isinstance(layer, Recurrent)
    assert (layer.num_layers, layer.direction, layer.output_size) == (4, "alternating", 6)
    with pytest.raises(ValueError, match="unknown recurrent type"):
        build_recurrent({"type": "nope"}, 5)
    with pytest.raises(ValueError, match="bad options"):
        build_recurrent({"type": "gru", "hidden_size": 3, "colour": "red"}, 5)

    @register("test_doubled_gru")
    def doubled(input_size, hidden_size):
        return Recurrent("gru", input_size, 2 * hidden_size)

    try:
        assert build_recurrent({"type": "test_doubled_gru", "hidden_size": 3}, 5).output_size == 6
    finally:
        del REGISTRY["test_doubled_gru"]


def test_padding_mask_is_the_same_as_lengths():
    torch.manual_seed(7)
    model = Recurrent("lstm_coupled", 3, 4, direction="bidirectional")
    x = torch.randn(3, 6, 3)
    mask = torch.arange(6)[None, :] < LENGTHS[:, None]
    torch.testing.assert_close(model(x, mask=mask)[0], model(x, LENGTHS)[0])
    with pytest.raises(ValueError, match="prefix"):
        model(x, mask=mask.flip(1))


def test_sizes_are_required():
    with pytest.raises(TypeError):
        Recurrent("lstm")

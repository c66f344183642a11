"""Growing a trained model into a wider one (``models.widen``): same calls before training,
new units that learn, and clear errors for what cannot be grown."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import DATA_SAMPLES

from basecaller.errors import InputError
from basecaller.io.open import open_reads
from basecaller.models.crf import build_model
from basecaller.models.directory import load_model
from basecaller.models.widen import widen_into
from basecaller.signal.normalise import normalise_read


def _real_windows(count: int = 2, window: int = 4000) -> torch.Tensor:
    read = max(open_reads(DATA_SAMPLES / "lambda_r941" / "reads.pod5"), key=lambda r: len(r.signal_dac))
    signal = normalise_read(read)
    return torch.from_numpy(np.stack([signal[i * window:(i + 1) * window] for i in range(count)]).astype(np.float32))


def _wider(config, hidden: int):
    config = copy.deepcopy(config)
    config.encoder["hidden_size"] = hidden
    config.stem["channels"][-1] = hidden
    return config


@pytest.mark.parametrize("name", ["r941_4khz_lite", "r941_4khz_crf"])
def test_widened_shipped_model_scores_real_signal_exactly_as_before(name):
    narrow = load_model(name).eval()
    torch.manual_seed(0)
    wide = widen_into(narrow, build_model(_wider(narrow.config, narrow.config.encoder["hidden_size"] + 32))).eval()
    assert wide.encoder.hidden_size == narrow.encoder.hidden_size + 32
    signal = _real_windows()
    with torch.no_grad():
        torch.testing.assert_close(wide(signal), narrow(signal), rtol=0, atol=1e-5)


def test_new_units_receive_gradient_and_start_to_matter():
    narrow = load_model("r941_4khz_lite").eval()
    torch.manual_seed(0)
    wide = widen_into(narrow, build_model(_wider(narrow.config, 80)))
    old = narrow.encoder.hidden_size
    assert torch.count_nonzero(wide.head.weight[:, old:]) == 0
    wide(_real_windows())[..., 1].mean().backward()  # the log-probability of A: a real gradient
    assert wide.head.weight.grad[:, old:].abs().sum() > 0


def test_what_cannot_be_grown_is_refused():
    from basecaller.training.basecaller import _initial_model

    narrow = load_model("r941_4khz_fast")
    with pytest.raises(ValueError, match="larger"):
        widen_into(narrow, build_model(_wider(narrow.config, 64)))
    other = copy.deepcopy(narrow.config)
    other.encoder["type"] = "gru"
    with pytest.raises(InputError, match="encoder type"):
        _initial_model(other, "r941_4khz_fast")


def test_cli_grows_a_model_with_hidden_size(tmp_path):
    from test_crf import _simulated_chunks

    from basecaller.cli import main

    dataset = _simulated_chunks(chunk_len=4000)
    dataset.subset(np.arange(8)).save(tmp_path / "train")
    out = tmp_path / "grown"
    assert main(["train", "--chunks", str(tmp_path / "train"), "--init-from", "r941_4khz_lite", "--hidden-size", "72",
                 "--steps", "1", "--lr", "0", "--batch-size", "2", "--quiet", "--device", "cpu", "--fp32",
                 "-o", str(out)]) == 0
    grown, start = load_model(out).eval(), load_model("r941_4khz_lite").eval()
    assert grown.encoder.hidden_size == 72 and grown.config.stem["channels"][-1] == 72
    signal = _real_windows(1)
    with torch.no_grad():
        torch.testing.assert_close(grown(signal), start(signal), rtol=0, atol=1e-5)


def test_fewer_layers_keep_the_first_ones():
    from basecaller.training.basecaller import _initial_model

    start = load_model("r941_4khz_lite")
    config = copy.deepcopy(start.config)
    config.encoder["num_layers"] = 4
    shallow = _initial_model(config, "r941_4khz_lite")
    assert len(shallow.encoder.layers) == 4
    kept = {k: v for k, v in start.state_dict().items() if not k.startswith("encoder.layers.4.")}
    torch.testing.assert_close(shallow.state_dict(), kept)


def test_dropout_from_the_command_line_starts_from_the_same_weights():
    """``train --init-from M --dropout 0.2``: the config carries the dropout, the model takes over
    M's weights unchanged (same calls in eval mode) and drops units only while training."""
    import argparse

    from basecaller.cli.train import _config
    from basecaller.training.basecaller import _initial_model

    args = argparse.Namespace(config=None, init_from="r941_4khz_lite", preset="fast", chemistry="r9.4.1",
                              sample_rate=4000, head=None, state_len=None, hidden_size=None, num_layers=None,
                              dropout=0.2)
    config = _config(args)
    assert config.encoder["dropout"] == 0.2
    start = load_model("r941_4khz_lite").eval()
    model = _initial_model(config, "r941_4khz_lite")
    assert model.encoder.dropout == 0.2
    signal = _real_windows()
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(signal), start(signal), rtol=0, atol=1e-6)
        torch.manual_seed(0)
        assert not torch.allclose(model.train()(signal), start(signal), atol=1e-3)

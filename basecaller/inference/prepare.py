"""A trained model made ready to call: eval mode, plain torch recurrent modules, optional int8."""

from __future__ import annotations

import warnings

import torch

from basecaller.models.contract import BasecallModel

__all__ = ["prepare_for_inference"]


def prepare_for_inference(model: BasecallModel, device: torch.device, int8: bool = False) -> torch.nn.Module:
    """Eval mode on ``device``; the recurrent core as real torch modules (and, with ``int8``
    on CPU, dynamically quantised LSTM/GRU/Linear layers)."""
    model = model.for_inference()
    if int8 and device.type == "cpu":
        # torch's dynamic int8 LSTM warns at every call that its quantized tensors are deprecated
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        with warnings.catch_warnings():  # torch.ao.quantization warns that it is moving to torchao
            warnings.simplefilter("ignore", DeprecationWarning)
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.LSTM, torch.nn.GRU, torch.nn.Linear},
                                                           dtype=torch.qint8)
    return model.to(device)

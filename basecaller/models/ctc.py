"""The CTC basecalling model: convolutional stem -> recurrent core -> linear to blank+ACGT."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from basecaller.models.config import ModelConfig
from basecaller.nn import build_recurrent
from basecaller.nn.recurrent import Recurrent

__all__ = ["ConvStem", "CTCModel", "NUM_CLASSES"]

NUM_CLASSES = 5  # blank, A, C, G, T


class ConvStem(nn.Module):
    """Conv1d layers with SiLU; the strides multiply to the model's downsampling factor."""

    def __init__(self, channels: list[int], kernels: list[int], strides: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        previous = 1
        for out, kernel, stride in zip(channels, kernels, strides, strict=True):
            layers += [nn.Conv1d(previous, out, kernel, stride=stride, padding=kernel // 2), nn.SiLU()]
            previous = out
        self.layers = nn.Sequential(*layers)
        self.out_channels = previous

    def forward(self, x: Tensor) -> Tensor:
        """x: (N, 1, T) -> (N, C, T // stride)."""
        return self.layers(x)


class CTCModel(nn.Module):
    """``forward(signal (N, T)) -> log-probabilities (N, T // stride, 5)``."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.stem = ConvStem(**config.stem)
        self.encoder = build_recurrent(config.encoder, self.stem.out_channels)
        self.head = nn.Linear(self.encoder.output_size, NUM_CLASSES)

    @property
    def stride(self) -> int:
        return self.config.stride

    def for_inference(self) -> CTCModel:
        """Eval mode; a fused recurrent core becomes real torch modules (faster, quantisable)."""
        self.eval()
        if isinstance(self.encoder, Recurrent) and self.encoder.fused:
            self.encoder = self.encoder.to_torch_module()
        return self

    def forward(self, signal: Tensor) -> Tensor:
        features = self.stem(signal.unsqueeze(1))  # (N, C, T')
        features, _ = self.encoder(features.transpose(1, 2))  # (N, T', H)
        return torch.log_softmax(self.head(features), dim=-1)  # (N, T', 5)

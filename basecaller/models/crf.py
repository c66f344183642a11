"""The CRF basecalling model: the CTC model's stem and recurrent core, a linear head to
4^k * 5 transition scores per step (``basecaller.crf``), and ``build_model`` for either head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from basecaller.crf.layout import CRFLayout
from basecaller.models.config import ModelConfig
from basecaller.models.ctc import CTCModel

__all__ = ["CRFModel", "SCORE_SCALE", "build_model"]

SCORE_SCALE = 5.0  # scores are SCORE_SCALE * tanh(linear), as bonito's CRF encoder


class CRFModel(CTCModel):
    """``forward(signal (N, T)) -> transition scores (N, T // stride, 4^k * 5)`` (unnormalised)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self.layout = CRFLayout(int(config.head["state_len"]))
        self.head = nn.Linear(self.encoder.output_size, self.layout.num_scores)

    @property
    def state_len(self) -> int:
        return self.layout.state_len

    def forward(self, signal: Tensor) -> Tensor:
        features = self.stem(signal.unsqueeze(1))
        features, _ = self.encoder(features.transpose(1, 2))
        # tanh in float32: bf16 elementwise ops are slow on CPUs (30 against 8 ms for a
        # 32 x 800 x 320 batch, in place), and decoding wants float32 anyway
        scores = self.head(features).float()
        if scores.requires_grad:
            return SCORE_SCALE * torch.tanh(scores)
        return torch.tanh_(scores).mul_(SCORE_SCALE)


def build_model(config: ModelConfig) -> CTCModel:
    """A fresh model with the head the config names (``[model.head] type``: ctc or crf)."""
    return CRFModel(config) if config.head_type == "crf" else CTCModel(config)

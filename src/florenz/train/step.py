"""The training step module: batch -> scalar loss. Its own module so that loop.py (the loop) and setup.py
(FLOPs measurement in `finish`) both import it one way, without importing each other."""

from __future__ import annotations

import torch
from torch import nn


class TrainStep(nn.Module):
    """Batch -> scalar loss: the one module DDP / FSDP wrap, so every stage goes through `forward`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "pixel_values" in batch or "visual_tokens" in batch:
            return self.model(**batch).loss
        return self.model.decoder_lm_loss(**batch)

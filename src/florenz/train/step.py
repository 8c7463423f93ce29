"""The training step module: batch -> scalar loss. Its own module so that loop.py (the loop) and setup.py
(FLOPs measurement in `finish`) both import it one way, without importing each other."""

from __future__ import annotations

import torch
from torch import nn


def is_vl_batch(batch: dict[str, torch.Tensor]) -> bool:
    """A vision-language batch (else a decoder-LM one: the LM stage's, or rows replayed in the VL stage)."""
    return "pixel_values" in batch or "visual_tokens" in batch


class TrainStep(nn.Module):
    """Batch -> scalar loss: the one module DDP / FSDP wrap, so every stage goes through `forward`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if is_vl_batch(batch):
            return self.model(**batch).loss
        return self.model.decoder_lm_loss(**batch)

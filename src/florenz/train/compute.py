"""Training compute in the paper's terms (P and Pt are counted by `florenz.models.freezing`).

F = forward FLOPs per sample, measured with `FlopCounterMode` on a representative batch (so it sees
the model's real sequence lengths); C = S * F * (1 + Pt / P): every sample costs one forward pass,
and the backward pass costs in proportion to the trainable share of the parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


@torch.no_grad()
def forward_flops_per_sample(forward: Callable[[], object], batch_size: int) -> float:
    """FLOPs of one forward call divided by the samples in its batch."""
    with FlopCounterMode(display=False) as counter:
        forward()
    return counter.get_total_flops() / max(1, batch_size)


def training_compute(samples: int, flops_per_sample: float, params: int, trainable_params: int) -> float:
    """The paper's C = S * F * (1 + Pt / P)."""
    return float(samples) * flops_per_sample * (1.0 + trainable_params / max(1, params))

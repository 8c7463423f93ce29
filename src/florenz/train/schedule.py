"""Learning-rate schedule: linear warm-up, then cosine decay to `min_lr_ratio * lr`.

Every budget gets its own full schedule (the paper trains each step budget from scratch rather than
reading intermediate checkpoints off one long run), so the schedule is a pure function of the step
and the run's total steps; resuming needs only the step.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from florenz.errors import FlorenzError


@dataclass(frozen=True)
class CosineSchedule:
    peak_lr: float
    total_steps: int
    warmup_steps: int
    min_lr_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.total_steps <= 0:
            raise FlorenzError(f"schedule needs total_steps > 0, got {self.total_steps}")
        if self.warmup_steps < 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise FlorenzError(f"bad schedule: warmup_steps={self.warmup_steps}, min_lr_ratio={self.min_lr_ratio}")

    def __call__(self, step: int) -> float:
        """The lr used for optimiser step `step` (0-based)."""
        warm = min(self.warmup_steps, self.total_steps)
        if step < warm:
            return self.peak_lr * (step + 1) / warm
        decay_steps = max(1, self.total_steps - warm)
        progress = min(1.0, (step - warm) / decay_steps)
        floor = self.min_lr_ratio * self.peak_lr
        return floor + (self.peak_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    def state_dict(self) -> dict:
        return asdict(self)


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr

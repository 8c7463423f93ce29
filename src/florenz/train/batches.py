"""Batch sources: what the one training loop draws from, stage by stage.

A source turns sampler draws into model-ready tensor batches. Every rank draws the same global batch
(so the sampler state is the same everywhere) and collates only its own slice, split into micro
batches for gradient accumulation. The vision-language source lives here; the decoder-LM source is
in `decoder_lm.py`. Both are checkpointed through `state_dict` (the sampler's state).
"""

from __future__ import annotations

import numpy as np
import torch

from florenz.data.sampler import BalancedSampler
from florenz.errors import FlorenzError


class BatchSource:
    """Base: subclasses set `self.sampler` and implement `collate(rows) -> dict of tensors`."""

    name = "source"
    sampler: BalancedSampler

    @property
    def num_rows(self) -> int:
        raise NotImplementedError

    def collate(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def step_batches(self, global_batch: int, micro_batch: int, rank: int = 0, world_size: int = 1
                     ) -> list[dict[str, torch.Tensor]]:
        """This rank's micro batches of the next global batch."""
        per_rank = global_batch // world_size
        _, rows = self.sampler.draw(global_batch)
        mine = rows[rank * per_rank:(rank + 1) * per_rank]
        return [self.collate(mine[i:i + micro_batch]) for i in range(0, per_rank, micro_batch)]

    def state_dict(self) -> dict:
        return {"name": self.name, "sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name:
            raise FlorenzError(f"checkpoint batch source is {state.get('name')!r}, expected {self.name!r}")
        self.sampler.load_state_dict(state["sampler"])


def pad_rows(seqs: list[list[int]], pad_id: int, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-padded int64 ids [N, L] and lengths, L = longest (truncated to max_len)."""
    lengths = np.array([min(len(s), max_len) for s in seqs], dtype=np.int64)
    out = np.full((len(seqs), int(lengths.max(initial=1))), pad_id, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : lengths[i]] = s[: lengths[i]]
    return out, lengths


def take_padded(ids: np.ndarray, lengths: np.ndarray, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of a pre-tokenised table, cut to the batch's longest sequence: (ids, attention mask)."""
    lens = lengths[rows]
    width = int(lens.max(initial=1))
    batch = torch.from_numpy(ids[rows, :width].astype(np.int64))
    mask = torch.arange(width)[None, :] < torch.from_numpy(lens)[:, None]
    return batch, mask.long()

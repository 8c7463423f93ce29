"""Decoder-LM replay in the vision-language stage: the decoder keeps reading its pre-training text.

Why (micro models): the paper's freezing trains the decoder's embeddings in the VL stage, and a micro decoder ties
input and output embeddings over one small vocabulary shared by all languages. Trained only on en/de captions and
prefix-less translation targets, those embeddings are rewritten until the frozen decoder no longer continues a
French, Spanish or Russian prefix in that language (benchmarks/RESULTS.md, issue 15), which a real Gemma-2, with
its 256k-token vocabulary and trillions of pre-training tokens behind the same embeddings, does not suffer. Replay
is the standard remedy for such forgetting: every VL step also draws `train.decoder_lm_replay` LM rows per VL row
from the decoder-LM stage's text (the same T languages) and adds their next-token loss, token-weighted like every
micro batch. The LM rows pass the decoder alone (cross-attention skipped), so they train only what the VL stage's
freezing leaves trainable in the decoder; they are not VL samples and do not count in S or C, and result.json
reports them (and their compute) beside C.

Single-process only (like the micro world's other stage caches): the LM rows come last in a step and touch neither
the encoder nor cross-attention, so the micro batch on which DDP / FSDP2 reduce gradients would leave those out.
"""

from __future__ import annotations

import math

import torch

from florenz.train.batches import BatchSource


def lm_rows(global_batch: int, ratio: float, world_size: int = 1) -> int:
    """LM rows per VL step: `ratio` per VL sample, rounded up to a multiple of the world size (every rank the same
    share)."""
    return max(world_size, world_size * math.ceil(global_batch * ratio / world_size))


class ReplaySource(BatchSource):
    """`vl`'s micro batches of a step, then `lm`'s rows for the same step (ratio `rows_per_sample`)."""

    name = "vl+lm_replay"

    def __init__(self, vl: BatchSource, lm: BatchSource, rows_per_sample: float) -> None:
        self.vl, self.lm, self.ratio = vl, lm, rows_per_sample

    def step_batches(self, global_batch: int, micro_batch: int, rank: int = 0, world_size: int = 1
                     ) -> list[dict[str, torch.Tensor]]:
        batches = self.vl.step_batches(global_batch, micro_batch, rank, world_size)
        n = lm_rows(global_batch, self.ratio, world_size)
        return batches + self.lm.step_batches(n, min(micro_batch, n // world_size), rank, world_size)

    def close(self) -> None:
        if hasattr(self.vl, "close"):
            self.vl.close()

    def state_dict(self) -> dict:
        return {"name": self.name, "vl": self.vl.state_dict(), "lm": self.lm.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        from florenz.errors import FlorenzError

        if state.get("name") != self.name:
            raise FlorenzError(f"checkpoint batch source is {state.get('name')!r}, expected {self.name!r} "
                               "(train.decoder_lm_replay differs from the run's)")
        self.vl.load_state_dict(state["vl"])
        self.lm.load_state_dict(state["lm"])

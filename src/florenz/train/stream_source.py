"""The vision-language batch source: one data path, records from shards or held in memory.

Both policies run the same chain (data/stream.py `slot_items`): per (rank, worker) slot, shards in a per-epoch
order, a shuffle buffer, per image one annotation toward the target class mix (`sampler.target_distribution`),
then `FlorenzProcessor.collate`'s layout. `data.loader` picks where the records are: `stream` reads the tar shards in
`DataLoader` workers (`ShardRecords`; memory flat in the data size), `memory` holds the decoded images and the
tokenised tables (`train/vl.py` `MemoryRecords`; the micro world's speed, frozen-vision features computed once,
exact resume). Streamed, each (rank, worker) is a slot reading its own shards; their resume states are gathered
into the checkpoint, so every rank continues its own stream. In memory, all records are one slot drawn the same
in every rank, which collates its slice of each global batch, so the batches do not depend on the world size or
micro batch. On the same readable records with the same seed and buffer, the two give the same batches where their
slots agree: one rank and `data.workers` <= 1 (tests/test_one_data_path.py).
"""

from __future__ import annotations

import mmap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from florenz.data.config import DataConfig
from florenz.data.dataset import SkipReport
from florenz.data.sampler import target_distribution
from florenz.data.shards import read_stats
from florenz.data.stream import ShardStream, StreamSpec, loader, plain_state
from florenz.errors import FlorenzError
from florenz.train.batches import BatchSource

SAMPLE_REASONS = ("bad_sample", "empty_target", "empty_source", "no_image", "bad_image")
CHECK_AFTER = 200  # samples read before the unusable share is judged


class ShardRecords:
    """The stream policy: records read from the tar shards, decoded and tokenised in DataLoader workers (uint8
    pixels; normalised here, in the training process)."""

    name = "stream"

    def __init__(self, data_dir: str | Path, processor, split: str = "train") -> None:
        self.data_dir, self.processor, self.split = Path(data_dir), processor, split
        stats = read_stats(self.data_dir) if (self.data_dir / "stats.json").is_file() else {}
        counts = stats.get("splits", {}).get(split)
        if not counts:
            raise FlorenzError(f"data.loader=stream: {self.data_dir}/stats.json has no '{split}' class counts "
                               "(the target class mix is built from them)")
        self.classes = sorted(c for c, n in counts.items() if isinstance(n, int) and n > 0)
        self.num_rows = int(sum(n for n in counts.values() if isinstance(n, int)))
        self.skips = SkipReport()  # counted as the records are read

    def items(self, spec: StreamSpec, resume: dict[int, dict]) -> Iterator[dict]:
        """The workers' micro batches, round-robin from worker 0 (DataLoader's order)."""
        for item in loader(ShardStream(spec, self.processor, resume), pin_memory=torch.cuda.is_available()):
            item["batch"] = model_batch(self.processor, item["batch"])
            yield item

    def collate(self, spec: StreamSpec, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """A representative batch of len(rows) streamed samples (read in this process; for FLOP counting)."""
        one = StreamSpec(**{**spec.__dict__, "micro_batch": len(rows), "workers": 0, "buffer": 1, "rank": 0,
                            "world_size": 1})
        return model_batch(self.processor, next(iter(ShardStream(one, self.processor)))["batch"])


class StreamSource(BatchSource):
    """The VL stage's batches from a record policy (`ShardRecords` or `train/vl.py` `MemoryRecords`)."""

    def __init__(self, records, dcfg: DataConfig, seed: int, micro_batch: int, rank: int = 0, world_size: int = 1,
                 split: str = "train") -> None:
        self.records, self.dcfg, self.rank, self.world = records, dcfg, rank, world_size
        self.name = records.name
        self.data_dir = records.data_dir
        self.classes = list(records.classes)
        self.spec = StreamSpec(self.data_dir, split, target_distribution(self.classes, dcfg.class_weights), micro_batch,
                               seed, rank, world_size, dcfg.workers, dcfg.shuffle_buffer, dcfg.max_source_tokens,
                               dcfg.max_target_tokens)
        self.skips = SkipReport.from_json(records.skips.to_json())
        self.emitted: Counter = Counter()  # classes of the samples trained on (this rank)
        self.slots: dict[int, dict] = {}
        self._iter, self._global = None, 0

    @property
    def num_rows(self) -> int:
        return self.records.num_rows

    def step_batches(self, global_batch: int, micro_batch: int, rank: int = 0, world_size: int = 1
                     ) -> list[dict[str, torch.Tensor]]:
        if micro_batch != self.spec.micro_batch or rank != self.rank or world_size != self.world:
            raise FlorenzError("VL source: micro batch / rank / world size differ from the ones it was built for")
        if hasattr(self.records, "draws"):
            return self._drawn_batches(global_batch, micro_batch, rank, world_size)
        if self._iter is None:
            self._iter = self.records.items(self.spec, self.slots)
        out = []
        for _ in range(global_batch // world_size // micro_batch):
            try:
                item = next(self._iter)
            except FlorenzError as e:  # raised in a worker: DataLoader re-raises it with the worker's traceback
                raise FlorenzError(str(e).strip().splitlines()[-1].removeprefix("florenz.errors.FlorenzError: ")) \
                    from None
            if item.get("skips"):
                delta = SkipReport.from_json(item["skips"])
                for reason, n in delta.counts.items():
                    self.skips.add(reason, delta.first[reason], n)
                self.skips.used += delta.used
                self.skips.expected = self.skips.used + sum(self.skips.counts.get(k, 0) for k in SAMPLE_REASONS)
            self.slots[int(item["slot"])] = item["state"]
            self.emitted.update(item["classes"])
            out.append(item["batch"])
        if self.skips.expected >= CHECK_AFTER and self.skips.share > self.dcfg.max_skipped_share:
            self.skips.check(self.dcfg.max_skipped_share, f"training data {self.data_dir} ({self.name})")
        return out

    def _drawn_batches(self, global_batch: int, micro_batch: int, rank: int, world_size: int
                       ) -> list[dict[str, torch.Tensor]]:
        """Records in memory: the global batch from the one slot, then this rank's slice in micro batches."""
        if self._iter is None or self._global != global_batch:
            spec = StreamSpec(**{**self.spec.__dict__, "micro_batch": global_batch, "rank": 0, "world_size": 1,
                                 "workers": 0})
            self._iter, self._global = self.records.draws(spec, self.slots.get(0)), global_batch
        rows, self.slots[0] = next(self._iter)
        per_rank = global_batch // world_size
        mine = rows[rank * per_rank:(rank + 1) * per_rank]
        self.emitted.update(self.records.row_classes(mine))
        return [self.records.collate(self.spec, mine[i:i + micro_batch]) for i in range(0, per_rank, micro_batch)]

    def close(self) -> None:
        """End the DataLoader workers (a later step_batches starts them again, from the saved slot states)."""
        self._iter = None

    def collate(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """A representative batch of len(rows) samples (for FLOP counting)."""
        return self.records.collate(self.spec, rows)

    def state_dict(self) -> dict:
        mine = {"slots": {str(k): plain_state(v) for k, v in self.slots.items()}, "skips": self.skips.to_json(),
                "emitted": dict(self.emitted)}
        ranks = [mine]
        if self.world > 1 and dist.is_initialized():  # every rank reads its own slots: keep all their states
            ranks = [None] * self.world
            dist.all_gather_object(ranks, mine)
        return {"name": self.name, "ranks": ranks}

    def load_state_dict(self, state: dict) -> None:
        if state.get("name") != self.name:
            raise FlorenzError(f"checkpoint batch source is {state.get('name')!r}, expected {self.name!r} "
                               "(data.loader changed?)")
        if len(state["ranks"]) != self.world:
            raise FlorenzError(f"the checkpoint's stream was for {len(state['ranks'])} ranks, "
                               f"this run has {self.world}")
        mine = state["ranks"][self.rank]
        self.slots = {int(k): v for k, v in mine["slots"].items()}
        self.skips = SkipReport.from_json(mine["skips"])
        self.emitted = Counter(mine["emitted"])
        self._iter = None


def model_batch(processor, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A streamed batch as the model takes it: its uint8 "pixels" normalised into "pixel_values"."""
    out = dict(batch)
    pixels = pixel_values(processor, out.pop("pixels").numpy())
    return {"pixel_values": pixels, **out}


def pixel_values(processor, images) -> torch.Tensor:
    """`processor.pixel_values`, with a uint8 batch at the model's size normalised into `_float_buffer`."""
    size = processor.image_size
    if isinstance(images, np.ndarray) and images.shape[1:3] == (size, size):
        return processor.pixel_values(images, out=_float_buffer((len(images), 3, size, size)))
    return processor.pixel_values(images)


MAPPED_BYTES = 4 << 20


def _float_buffer(shape: tuple[int, ...]) -> torch.Tensor:
    """An uninitialised float32 tensor; from `MAPPED_BYTES` up in an anonymous mmap of its own, returned to the OS
    when the tensor is freed. (Allocated with malloc, glibc keeps freed batches of this size in its heap after
    raising its mmap threshold: a streaming trainer's memory grew by ~40 batches of 224 px pixels.)"""
    n = int(np.prod(shape))
    if n * 4 < MAPPED_BYTES:
        return torch.empty(shape)
    return torch.frombuffer(mmap.mmap(-1, n * 4), dtype=torch.float32).view(shape)

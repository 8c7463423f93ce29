"""The vision-language batch source over streamed shards (data/stream.py), for data too large to hold.

`data.loader = "stream"` selects it; the in-memory tables (train/vl.py) stay the default for small data such
as the micro world. Both validate records with `dataset.usable_samples`, aim at the same target class mix
(`sampler.target_distribution`) and produce `FlorenzProcessor.collate`'s layout. Each rank streams its own shards;
its resume state (per worker slot) is gathered into the checkpoint, so every rank continues its own stream.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from florenz.data.config import DataConfig
from florenz.data.dataset import SkipReport
from florenz.data.sampler import target_distribution
from florenz.data.shards import read_stats
from florenz.data.stream import ShardStream, StreamSpec, loader
from florenz.errors import FlorenzError
from florenz.train.batches import BatchSource

SAMPLE_REASONS = ("bad_sample", "empty_target", "empty_source", "no_image", "bad_image")
CHECK_AFTER = 200  # samples read before the unusable share is judged


class StreamSource(BatchSource):
    name = "stream"

    def __init__(self, data_dir: str | Path, processor, dcfg: DataConfig, seed: int, micro_batch: int,
                 rank: int = 0, world_size: int = 1, split: str = "train") -> None:
        self.data_dir, self.processor, self.dcfg = Path(data_dir), processor, dcfg
        self.rank, self.world = rank, world_size
        stats = read_stats(self.data_dir) if (self.data_dir / "stats.json").is_file() else {}
        counts = stats.get("splits", {}).get(split)
        if not counts:
            raise FlorenzError(f"data.loader=stream: {self.data_dir}/stats.json has no '{split}' class counts "
                               "(the target class mix is built from them)")
        self.classes = sorted(c for c, n in counts.items() if isinstance(n, int) and n > 0)
        self.spec = StreamSpec(self.data_dir, split, target_distribution(self.classes, dcfg.class_weights), micro_batch,
                               seed, rank, world_size, dcfg.workers, dcfg.shuffle_buffer, dcfg.max_source_tokens,
                               dcfg.max_target_tokens)
        self.skips = SkipReport()
        self.emitted: Counter = Counter()  # classes of the samples trained on (this rank)
        self.slots: dict[int, dict] = {}
        self._iter = None

    @property
    def num_rows(self) -> int:
        return int(sum(read_stats(self.data_dir)["splits"][self.spec.split].values()))

    def step_batches(self, global_batch: int, micro_batch: int, rank: int = 0, world_size: int = 1
                     ) -> list[dict[str, torch.Tensor]]:
        if micro_batch != self.spec.micro_batch or rank != self.rank or world_size != self.world:
            raise FlorenzError("stream source: micro batch / rank / world size differ from the ones it was built for")
        if self._iter is None:
            self._iter = iter(loader(ShardStream(self.spec, self.processor, self.slots),
                                     pin_memory=torch.cuda.is_available()))
        out = []
        for _ in range(global_batch // world_size // micro_batch):
            try:
                item = next(self._iter)
            except FlorenzError as e:  # raised in a worker: DataLoader re-raises it with the worker's traceback
                raise FlorenzError(str(e).strip().splitlines()[-1].removeprefix("florenz.errors.FlorenzError: ")) \
                    from None
            delta = SkipReport.from_json(item["skips"])
            for reason, n in delta.counts.items():
                self.skips.add(reason, delta.first[reason], n)
            self.skips.used += delta.used
            self.skips.expected = self.skips.used + sum(self.skips.counts.get(k, 0) for k in SAMPLE_REASONS)
            self.slots[int(item["slot"])] = item["state"]
            self.emitted.update(item["classes"])
            out.append(item["batch"])
        if self.skips.expected >= CHECK_AFTER and self.skips.share > self.dcfg.max_skipped_share:
            self.skips.check(self.dcfg.max_skipped_share, f"training data {self.data_dir} (streamed)")
        return out

    def close(self) -> None:
        """End the DataLoader workers (a later step_batches starts them again, from the saved slot states)."""
        self._iter = None

    def collate(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """A representative batch of len(rows) streamed samples (read in this process; for FLOP counting)."""
        spec = StreamSpec(**{**self.spec.__dict__, "micro_batch": len(rows), "workers": 0, "buffer": 1,
                             "rank": 0, "world_size": 1})
        return next(iter(ShardStream(spec, self.processor)))["batch"]

    def state_dict(self) -> dict:
        mine = {"slots": {str(k): v for k, v in self.slots.items()}, "skips": self.skips.to_json(),
                "emitted": dict(self.emitted)}
        ranks = [mine]
        if self.world > 1 and dist.is_initialized():  # every rank streams its own shards: keep all their states
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

"""Training records streamed from shards through `DataLoader` workers, with memory that does not grow with the data.

Each (rank, worker) slot reads its own shards (shard i goes to slot i mod slots; with fewer shards than slots,
every slot reads all shards and keeps record j mod slots), in an order reshuffled every epoch, forever
(resampled). Records pass a shuffle buffer; for each record one of its usable annotations is chosen toward the
target task–language distribution (the paper's per-image choice: the class furthest behind its target share
among those the image offers), and decode + tokenise + collate (`FlorenzProcessor.collate`) happen in the worker,
which yields ready micro batches. Unusable data is skipped and counted by reason (`dataset.usable_samples`).

Guarantees, with any number of workers: the batch sequence is a function of (seed, rank, world size, workers,
buffer, micro batch) - DataLoader returns the workers' batches round-robin in order; the chosen classes follow
the target mix (counts are carried across a resume). A resume restarts each slot at the earliest (epoch,
shard) that still had a record in its buffer or in progress, so no record is lost; records read again after a
resume (at most one shard plus the buffer per slot) make a resumed stream differ from an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from florenz.data.dataset import SkipReport, usable_samples
from florenz.data.shards import Record, Sample, class_key, decode_image, read_shard, shard_paths
from florenz.errors import FlorenzError


@dataclass
class StreamSpec:
    data_dir: Path
    split: str
    target: dict[str, float]  # class -> target probability (sampler.target_distribution)
    micro_batch: int
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    workers: int = 0  # DataLoader workers; 0 = read in the training process
    buffer: int = 1000  # shuffle buffer (records)
    max_source_tokens: int = 48
    max_target_tokens: int = 48


@dataclass
class SlotState:
    """Where one (rank, worker) slot is: resume point and the classes it has emitted."""

    epoch: int = 0
    shard: int = 0  # position in the epoch's shard order
    counts: dict[str, int] = field(default_factory=dict)


def slot_shards(paths: list[Path], slot: int, slots: int) -> tuple[list[Path], int | None]:
    """(shards of this slot, record stride filter or None): shard split when there are enough shards."""
    if len(paths) >= slots:
        return paths[slot::slots], None
    return paths, slot


def choose_annotation(samples: list[Sample], counts: dict[str, int], target: dict[str, float],
                      rng: random.Random) -> Sample | None:
    """The sample whose class is furthest below its target share of what this slot emitted (ties: random);
    None if the image offers no class with a positive target."""
    total = sum(counts.values()) + 1
    best, best_gap = [], -np.inf
    for s in samples:
        p = target.get(class_key(s.task, s.lang), 0.0)
        if p <= 0:
            continue
        gap = p * total - counts.get(class_key(s.task, s.lang), 0)
        if gap > best_gap + 1e-12:
            best, best_gap = [s], gap
        elif abs(gap - best_gap) <= 1e-12:
            best.append(s)
    return rng.choice(best) if best else None


class ShardStream(IterableDataset):
    """Yields {"batch", "slot", "state", "skips", "classes", "keys"}: a collated micro batch and the bookkeeping
    the training process keeps (per-slot resume state, skip counts of this batch, its classes and samples)."""

    def __init__(self, spec: StreamSpec, processor, resume: dict[int, dict] | None = None) -> None:
        self.spec, self.processor = spec, processor
        self.paths = shard_paths(spec.data_dir, spec.split)
        if not self.paths:
            raise FlorenzError(f"no '{spec.split}-*.tar' shards in {spec.data_dir}")
        self.resume = resume or {}

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        wid, n_workers = (info.id, info.num_workers) if info else (0, 1)
        spec = self.spec
        slot, slots = spec.rank * n_workers + wid, spec.world_size * n_workers
        shards, stride = slot_shards(self.paths, slot, slots)
        st = SlotState(**self.resume.get(wid, {}))
        rng = random.Random(_seed(spec.seed, f"stream:{slot}/{slots}:{st.epoch}:{st.shard}"))
        buffer: list[tuple[tuple[int, int], Record, Sample, int]] = []
        out: list[tuple[Record, Sample, int]] = []
        skips = SkipReport()  # since the last batch; sent with the next one
        on_bad = skips.add  # a corrupt or truncated shard: counted by reason, reading goes on
        epoch, start = st.epoch, st.shard
        while True:
            chosen_this_epoch = 0
            order = np.random.Generator(np.random.PCG64(_seed(spec.seed, f"order:{slot}/{slots}:{epoch}")))
            order = order.permutation(len(shards))
            for pos in range(start, len(shards)):
                for j, rec in enumerate(read_shard(shards[order[pos]], lambda e, r: on_bad(r, str(e)))):
                    if stride is not None and j % slots != stride:
                        continue
                    samples = usable_samples(rec, skips)
                    skips.used += len(samples)  # the pool the choice draws from
                    chosen = choose_annotation(samples, st.counts, spec.target, rng) if samples else None
                    if chosen is None:
                        continue
                    chosen_this_epoch += 1
                    key = class_key(chosen.task, chosen.lang)
                    st.counts[key] = st.counts.get(key, 0) + 1
                    buffer.append(((epoch, pos), rec, chosen, samples.index(chosen)))
                    if len(buffer) < spec.buffer:
                        continue
                    i = rng.randrange(len(buffer))
                    buffer[i], buffer[-1] = buffer[-1], buffer[i]
                    out.append(buffer.pop()[1:])
                    if len(out) == spec.micro_batch:
                        pending = min([(epoch, pos), *(b[0] for b in buffer)])
                        item = self._collate(out, skips)
                        if item is not None:
                            item.update(slot=wid, state={"epoch": pending[0], "shard": pending[1],
                                                         "counts": dict(st.counts)})
                            yield item
                            skips.counts, skips.first, skips.used = {}, {}, 0  # reported with this batch
                        out = []
            if chosen_this_epoch == 0 and start == 0:  # a full pass gave nothing: it never would
                raise FlorenzError(f"stream slot {slot} of {slots}: no usable record with a target class in its "
                                   f"{len(shards)} shards of {spec.data_dir} ({skips.describe()})")
            epoch, start = epoch + 1, 0

    def _collate(self, items: list[tuple[Record, Sample, int]], skips: SkipReport) -> dict | None:
        from PIL import Image

        p, spec, size = self.processor, self.spec, self.processor.image_size
        images, samples, keys = [], [], []
        for rec, s, index in items:
            try:
                img = decode_image(rec)
            except FlorenzError as e:
                skips.add("bad_image", str(e))
                skips.used -= 1
                continue
            if img.size != (size, size):  # the processor's resize, done here so the batch is one uint8 array
                img = img.resize((size, size), Image.BICUBIC)
            images.append(np.asarray(img, dtype=np.uint8))
            samples.append(s)
            keys.append(f"{rec.key}#{index}")  # record key # index among its usable samples
        if not samples:
            return None
        batch = p.collate(np.stack(images), samples, spec.max_source_tokens, spec.max_target_tokens)
        return {"batch": batch, "skips": skips.to_json(), "classes": [class_key(s.task, s.lang) for s in samples],
                "keys": keys}


def loader(stream: ShardStream, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """The DataLoader over a stream: batches are made in the workers (batch_size=None)."""
    w = stream.spec.workers
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=w, pin_memory=pin_memory,
                                       persistent_workers=w > 0, prefetch_factor=4 if w > 0 else None)


def _seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")

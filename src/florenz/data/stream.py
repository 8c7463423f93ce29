"""Training records drawn slot by slot toward the target class mix: the one data path of the VL stage.

Each (rank, worker) slot reads its own shards (shard i goes to slot i mod slots; with fewer shards than slots,
every slot reads all shards and keeps record j mod slots), in an order reshuffled every epoch, forever
(resampled). Records pass a shuffle buffer; for each record one of its usable annotations is chosen toward the
target task–language distribution (the paper's per-image choice: the class furthest behind its target share
among those the image offers). `slot_items` is that chain, whoever holds the records: `ShardStream` reads them
from the tar shards in `DataLoader` workers and decodes + tokenises + collates (`FlorenzProcessor.collate`) there; the
memory policy (train/vl.py) runs the same chain over records held in memory. Unusable data is skipped and counted
by reason (`dataset.usable_samples`).

Guarantees, with any number of workers: the batch sequence is a function of (seed, rank, world size, workers,
buffer, micro batch) - DataLoader returns the workers' batches round-robin in order; the chosen classes follow
the target mix (counts are carried across a resume). A streamed resume restarts each slot at the earliest (epoch,
shard) that still had a record in its buffer or in progress, so no record is lost; records read again after a
resume (at most one shard plus the buffer per slot) make a resumed stream differ from an uninterrupted one. Over
records held in memory the slot state is exact (buffer, position and RNG), so that resume is bit-for-bit.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from florenz.data.dataset import SkipReport, usable_samples
from florenz.data.shards import Record, Sample, class_key, decode_image, read_shard, shard_paths
from florenz.errors import FlorenzError
from florenz.prompts import decoder_target, encoder_prompt


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


# read(shard index) -> (position j in the shard, record reference, class keys of its usable annotations)
ShardReader = Callable[[int], Iterable[tuple[int, object, list[str]]]]


def slot_shards(paths: list, slot: int, slots: int) -> tuple[list, int | None]:
    """(shards of this slot, record stride filter or None): shard split when there are enough shards."""
    if len(paths) >= slots:
        return paths[slot::slots], None
    return paths, slot


def choose_annotation(classes: list[str], counts: dict[str, int], target: dict[str, float],
                      rng: random.Random) -> int | None:
    """The index of the annotation whose class is furthest below its target share of what this slot emitted
    (ties: random); None if the image offers no class with a positive target."""
    total = sum(counts.values()) + 1
    best, best_gap = [], -np.inf
    share, have = target.get, counts.get
    for i, c in enumerate(classes):
        p = share(c, 0.0)
        if p <= 0:
            continue
        gap = p * total - have(c, 0)
        if gap > best_gap + 1e-12:
            best, best_gap = [i], gap
        elif abs(gap - best_gap) <= 1e-12:
            best.append(i)
    return rng.choice(best) if best else None


def slot_items(spec: StreamSpec, slot: int, slots: int, n_shards: int, read: ShardReader,
               resume: dict | None = None, exact: bool = False) -> Iterator[tuple[list[tuple[object, int]], dict]]:
    """One slot's micro batches as ([(record reference, chosen annotation index)], slot state after them).

    The state is where a resume starts: (epoch, shard) plus the class counts; with `exact` (records addressable
    by an int reference, i.e. held in memory) also the record position, the buffer and the RNG, so a resumed
    slot continues exactly (otherwise it restarts at the earliest shard still in its buffer)."""
    shards, stride = slot_shards(list(range(n_shards)), slot, slots)
    st = resume or {}
    epoch, start, skip_to = int(st.get("epoch", 0)), int(st.get("shard", 0)), int(st.get("record", 0))
    counts = {str(k): int(v) for k, v in st.get("counts", {}).items()}
    rng = random.Random(_seed(spec.seed, f"stream:{slot}/{slots}:{epoch}:{start}"))
    buffer: list[tuple[int, int, object, int]] = []  # (epoch, shard position, record reference, annotation)
    if "rng" in st:  # an exact state
        version, words, gauss = st["rng"]
        rng.setstate((int(version), tuple(int(w) for w in words), gauss))
        buffer = [(int(e), int(p), int(r), int(k)) for e, p, r, k in st["buffer"]]
    else:
        skip_to = 0
    out: list[tuple[object, int]] = []
    while True:
        chosen_this_epoch = 0
        order = np.random.Generator(np.random.PCG64(_seed(spec.seed, f"order:{slot}/{slots}:{epoch}")))
        order = order.permutation(len(shards))
        for pos in range(start, len(shards)):
            for j, ref, classes in read(shards[order[pos]]):
                if (stride is not None and j % slots != stride) or j < skip_to:
                    continue
                k = choose_annotation(classes, counts, spec.target, rng) if classes else None
                if k is None:
                    continue
                chosen_this_epoch += 1
                counts[classes[k]] = counts.get(classes[k], 0) + 1
                buffer.append((epoch, pos, ref, k))
                if len(buffer) < spec.buffer:
                    continue
                i = rng.randrange(len(buffer))
                buffer[i], buffer[-1] = buffer[-1], buffer[i]
                out.append(buffer.pop()[2:])
                if len(out) == spec.micro_batch:
                    if exact:
                        state = {"epoch": epoch, "shard": pos, "record": j + 1, "counts": dict(counts),
                                 "rng": rng.getstate(), "buffer": list(buffer)}
                    else:
                        pending = min([(epoch, pos), *((b[0], b[1]) for b in buffer)])
                        state = {"epoch": pending[0], "shard": pending[1], "counts": dict(counts)}
                    yield out, state
                    out = []
            skip_to = 0
        if chosen_this_epoch == 0 and start == 0:  # a full pass gave nothing: it never would
            raise FlorenzError(f"stream slot {slot} of {slots}: no usable record with a target class in its "
                               f"{len(shards)} shards of {spec.data_dir}")
        epoch, start = epoch + 1, 0


def plain_state(state: dict) -> dict:
    """A slot state of plain lists and ints (JSON, `torch.load(weights_only=True)`)."""
    out = {k: v for k, v in state.items() if k not in ("rng", "buffer")}
    if "rng" in state:
        version, words, gauss = state["rng"]
        out["rng"] = [version, list(words), gauss]
        out["buffer"] = [list(b) for b in state["buffer"]]
    return out


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
        skips = SkipReport()  # since the last batch; sent with the next one
        on_bad = skips.add  # a corrupt or truncated shard: counted by reason, reading goes on

        def read(shard: int) -> Iterator[tuple[int, tuple[Record, list[Sample]], list[str]]]:
            for j, rec in enumerate(read_shard(self.paths[shard], lambda e, r: on_bad(r, str(e)))):
                samples = usable_samples(rec, skips)
                skips.used += len(samples)  # the pool the choice draws from
                yield j, (rec, samples), [class_key(s.task, s.lang) for s in samples]

        try:
            for items, state in slot_items(spec, slot, slots, len(self.paths), read, self.resume.get(wid)):
                item = self._collate(items, skips)
                if item is not None:
                    item.update(slot=wid, state=state)
                    yield item
                    skips.counts, skips.first, skips.used = {}, {}, 0  # reported with this batch
        except FlorenzError as e:
            if "no usable record" not in str(e):
                raise
            raise FlorenzError(f"{e} ({skips.describe()})") from None

    def _collate(self, items: list[tuple[tuple[Record, list[Sample]], int]], skips: SkipReport) -> dict | None:
        """The micro batch in `FlorenzProcessor.collate`'s layout, except that the images stay uint8 [B, s, s, 3] under
        "pixels": a quarter of the bytes through the DataLoader's shared memory; the training process normalises
        them (train/stream_source.py `model_batch`, the processor's float ops)."""
        p, spec = self.processor, self.spec
        images, samples, keys = [], [], []
        for (rec, usable), index in items:
            try:
                img = model_size_array(decode_image(rec), p.image_size)
            except FlorenzError as e:
                skips.add("bad_image", str(e))
                skips.used -= 1
                continue
            images.append(img)
            samples.append(usable[index])
            keys.append(f"{rec.key}#{index}")  # record key # index among its usable samples
        if not samples:
            return None
        src, dec_in, labels = text_rows([s.task for s in samples], [s.lang for s in samples],
                                        [s.style for s in samples], [s.src for s in samples],
                                        [s.tgt for s in samples], p.encoder_tokenizer, p.decoder_tokenizer,
                                        spec.max_source_tokens, spec.max_target_tokens)
        enc_pad, dec_pad = p.encoder_tokenizer.pad_token_id, p.decoder_tokenizer.pad_token_id
        batch = {"pixels": torch.from_numpy(np.stack(images)), **_padded(src, enc_pad, "input_ids", "attention_mask"),
                 **_padded(dec_in, dec_pad, "decoder_input_ids", "decoder_attention_mask"),
                 "labels": _padded(labels, -100, "labels")["labels"]}
        return {"batch": batch, "skips": skips.to_json(), "classes": [class_key(s.task, s.lang) for s in samples],
                "keys": keys}


def text_rows(tasks: list[str], langs: list[str], styles: list[str], srcs: list[str], tgts: list[str], enc, dec,
              max_src: int, max_tgt: int) -> tuple[list[list[int]], list[list[int]], list[list[int]]]:
    """Per sample (encoder ids, decoder input ids, labels) in `FlorenzProcessor.collate`'s layout - encoder [bos]
    + prompt + [eos], decoder input [bos] + y, labels y + [eos] - tokenising each distinct string once, in one
    batched call.
    Shared by the streamed batches and the in-memory tables (tests compare both with `FlorenzProcessor.collate`)."""
    prompts = [encoder_prompt(t, lg, st, s) for t, lg, st, s in zip(tasks, langs, styles, srcs, strict=True)]
    targets = [decoder_target(t, lg, y) for t, lg, y in zip(tasks, langs, tgts, strict=True)]
    body = [x[: max(max_src - 2, 0)] for x in _unique_encode(enc, prompts)]
    ys = [x[: max(max_tgt - 1, 0)] for x in _unique_encode(dec, targets)]
    return ([[enc.bos_token_id, *x, enc.eos_token_id] for x in body], [[dec.bos_token_id, *y] for y in ys],
            [[*y, dec.eos_token_id] for y in ys])


def _unique_encode(tok, texts: list[str]) -> list[list[int]]:
    uniq = list(dict.fromkeys(texts))
    ids = dict(zip(uniq, tok(uniq, add_special_tokens=False)["input_ids"], strict=True)) if uniq else {}
    return [ids[x] for x in texts]


def _padded(rows: list[list[int]], pad: int, ids_key: str, mask_key: str = "") -> dict[str, torch.Tensor]:
    """Right-padded int64 ids to the longest row (and the attention mask), as `FlorenzProcessor.collate` pads."""
    width = max((len(r) for r in rows), default=0)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    out = {ids_key: torch.from_numpy(ids)}
    if mask_key:
        out[mask_key] = torch.from_numpy(mask)
    return out


def model_size_array(img, size: int) -> np.ndarray:
    """A PIL image as uint8 [size, size, 3]: the processor's bicubic resize, done here so a batch is one array."""
    from PIL import Image

    if img.size != (size, size):
        img = img.resize((size, size), Image.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def loader(stream: ShardStream, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """The DataLoader over a stream: batches are made in the workers (batch_size=None)."""
    w = stream.spec.workers
    return torch.utils.data.DataLoader(stream, batch_size=None, num_workers=w, pin_memory=pin_memory,
                                       persistent_workers=w > 0, prefetch_factor=4 if w > 0 else None)


def _seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")

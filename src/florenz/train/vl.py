"""The memory policy of the VL data path: records held in memory, drawn by the stream's own chain.

Everything per-sample is done once up front - images decoded into one uint8 array (micro world), encoder
prompts and decoder targets tokenised into padded id tables - so a batch is a few fancy-indexing operations.
The records are then drawn exactly as the stream draws them from shards (data/stream.py `slot_items`: per-epoch
shard order, shuffle buffer, per-image annotation choice), in the training process, all records one slot, with an
exact state (bit-for-bit resume). The tables are cached on disk (`train/cache.py`) so the runs of a
sweep share one preparation. Prompts and targets follow `FlorenzProcessor.collate` exactly (a test compares them); with
a frozen vision tower the batches carry visual tokens computed once per image instead of pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from florenz.data.config import DataConfig
from florenz.data.dataset import ImageStore, SkipReport, TrainSet, load_split
from florenz.data.stream import StreamSpec, slot_items, text_rows
from florenz.train.batches import pad_rows, take_padded
from florenz.train.cache import cache_root, cached_arrays, data_fingerprint, tokenizer_fingerprint
from florenz.train.stream_source import StreamSource, pixel_values

_MEMO: dict[tuple, tuple] = {}  # per process: the last (tables, images) so repeated runs skip even the mmap


class MemoryRecords:
    """The memory policy: a split's records as tables + images (or visual tokens), read by `slot_items`."""

    name = "memory"

    def __init__(self, tables: dict[str, np.ndarray], images: ImageStore | np.ndarray, processor,
                 skips: SkipReport | None = None, data_dir: str | Path = "",
                 features: torch.Tensor | None = None) -> None:
        self.t, self.images, self.processor, self.data_dir = tables, images, processor, Path(data_dir)
        self.skips = skips or SkipReport()  # unusable data of the split, for the log and result.json
        self.features = features  # visual tokens per image (frozen vision), else None: pixels
        self.classes = [str(c) for c in tables["class_names"]]
        row_class = [self.classes[i] for i in np.asarray(tables["row_class"]).tolist()]
        first, count = np.asarray(tables["rec_first"]).tolist(), np.asarray(tables["rec_count"]).tolist()
        self.n_shards = int(np.asarray(tables["n_shards"]).item())
        self.by_shard: list[list[tuple[int, int, list[str]]]] = [[] for _ in range(self.n_shards)]
        for r, (s, j) in enumerate(zip(np.asarray(tables["rec_shard"]).tolist(), np.asarray(tables["rec_pos"]).tolist(),
                                       strict=True)):
            self.by_shard[s].append((j, r, row_class[first[r]:first[r] + count[r]]))
        self.rec_first = np.asarray(tables["rec_first"], dtype=np.int64)

    @classmethod
    def cached(cls, data_dir: str | Path, processor, dcfg: DataConfig) -> MemoryRecords:
        enc, dec = processor.encoder_tokenizer, processor.decoder_tokenizer
        key = (tuple(map(str, data_fingerprint(data_dir))), tokenizer_fingerprint(enc), tokenizer_fingerprint(dec),
               dcfg.max_source_tokens, dcfg.max_target_tokens)
        if key not in _MEMO:
            lazy: dict[str, ImageStore] = {}

            def build() -> dict[str, np.ndarray]:
                data = load_split(data_dir, "train")
                tables = build_tables(data, enc, dec, dcfg.max_source_tokens, dcfg.max_target_tokens)
                tables["skips"] = np.array(data.skips.to_json())  # cached with the tables it describes
                if data.images.dense is None:  # real data: images stay encoded, decoded per batch
                    lazy["images"] = data.images
                    return tables
                return {**tables, "images": data.images.dense}

            tables = cached_arrays(cache_root(dcfg.cache_dir), "vl", key, build)
            if "images" not in tables and "images" not in lazy:  # cached tables of lazily decoded data
                tables = build()
            _MEMO.clear()
            _MEMO[key] = (tables, tables.get("images", lazy.get("images")))
        tables, images = _MEMO[key]
        skips = SkipReport.from_json(str(np.asarray(tables["skips"]).item()))
        skips.check(dcfg.max_skipped_share, f"training data {data_dir}")  # also on a cache hit: the limit may differ
        return cls(tables, images, processor, skips, data_dir)

    @property
    def num_rows(self) -> int:
        return len(self.t["image_row"])

    def draws(self, spec: StreamSpec, resume: dict | None) -> Iterator[tuple[np.ndarray, dict]]:
        """(table rows, exact slot state after them) per global batch (`spec.micro_batch`): one slot over all
        records, the same in every rank - each rank collates its own slice, as with any world size."""
        for picked, state in slot_items(spec, 0, 1, self.n_shards, self.by_shard.__getitem__, resume, exact=True):
            yield np.array([self.rec_first[r] + k for r, k in picked], dtype=np.int64), state

    def row_classes(self, rows: np.ndarray) -> list[str]:
        return [self.classes[c] for c in self.t["row_class"][rows].tolist()]

    def collate(self, spec: StreamSpec | None, rows: np.ndarray) -> dict[str, torch.Tensor]:
        """The batch of table rows `rows` (what `FlorenzProcessor.collate` gives for their samples)."""
        t = self.t
        input_ids, attention_mask = take_padded(t["src_ids"], t["src_len"], rows)
        dec_ids, dec_mask = take_padded(t["dec_ids"], t["dec_len"], rows)
        labels = torch.from_numpy(t["labels"][rows, : dec_ids.shape[1]].astype(np.int64))
        idx = t["image_row"][rows]
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "decoder_input_ids": dec_ids,
                 "decoder_attention_mask": dec_mask, "labels": labels}
        if self.features is not None:
            return {"visual_tokens": self.features[torch.from_numpy(np.asarray(idx, dtype=np.int64))
                                                   .to(self.features.device)], **batch}
        images = self.images[idx] if isinstance(self.images, np.ndarray) else self.images.batch(idx)
        return {"pixel_values": pixel_values(self.processor, images), **batch}

    def with_features(self, features: torch.Tensor) -> MemoryRecords:
        """The same records whose batches carry `features[image]` instead of pixels."""
        out = object.__new__(MemoryRecords)
        out.__dict__.update(self.__dict__, features=features)
        return out


def memory_source(data_dir: str | Path, processor, dcfg: DataConfig, seed: int, micro_batch: int, rank: int = 0,
                  world_size: int = 1) -> StreamSource:
    """The VL source with the memory policy (data.loader = "memory")."""
    return StreamSource(MemoryRecords.cached(data_dir, processor, dcfg), dcfg, seed, micro_batch, rank, world_size)


def build_tables(data: TrainSet, enc, dec, max_src: int, max_tgt: int) -> dict[str, np.ndarray]:
    """The processor's layout, pre-computed (`stream.text_rows`, as the streamed batches), padded into tables;
    plus each row's class and where each record (= image) sits in the shards."""
    s = data.samples
    src, dec_in, labels = text_rows(s.task, s.lang, s.style, s.src, s.tgt, enc, dec, max_src, max_tgt)
    src_tab, src_len = pad_rows(src, enc.pad_token_id, max_src)
    dec_tab, dec_len = pad_rows(dec_in, dec.pad_token_id, max_tgt)
    lab_tab, _ = pad_rows(labels, -100, max_tgt)
    names = sorted(s.class_items)
    row_class = np.zeros(len(s), dtype=np.int64)
    for i, c in enumerate(names):
        row_class[s.class_items[c]] = i
    count = np.bincount(s.image, minlength=len(data.images)).astype(np.int64)  # rows are records in order
    return {"src_ids": src_tab.astype(np.int32), "src_len": src_len, "dec_ids": dec_tab.astype(np.int32),
            "dec_len": dec_len, "labels": lab_tab.astype(np.int32), "image_row": s.image,
            "class_names": np.array(names), "row_class": row_class, "rec_count": count,
            "rec_first": np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64),
            "rec_shard": data.record_shard, "rec_pos": data.record_pos, "n_shards": np.array(data.n_shards)}


FEATURE_LIMIT_BYTES = 1 << 30  # above this the features are not kept in memory (pixels are recomputed)


def vision_is_frozen(model) -> bool:
    """Tower + projector without trainable parameters and without stochastic layers in training mode."""
    mods = (model.vision_tower, model.projector)
    if any(p.requires_grad for m in mods for p in m.parameters()):
        return False
    return not any(getattr(m, "drop_prob", 0) or (isinstance(m, torch.nn.Dropout) and m.p > 0)
                   for mod in mods for m in mod.modules())


@torch.no_grad()
def visual_features(model, processor, images: np.ndarray, chunk: int = 256) -> torch.Tensor:
    """Every image's visual tokens [N, tokens, dim], the vision modules in eval mode, in chunks."""
    mods = (model.vision_tower, model.projector)
    was = [m.training for m in mods]
    for m in mods:
        m.eval()
    try:
        parts = [model.visual_tokens(pixel_values(processor, images[i:i + chunk]).to(model.device))
                 for i in range(0, len(images), chunk)]
    finally:
        for m, w in zip(mods, was, strict=True):
            m.train(w)
    return torch.cat(parts)


def with_frozen_vision(source, model):
    """`source` whose batches carry each image's visual tokens, computed once, instead of its pixels - where that is
    exact (vision tower and projector frozen and deterministic) and fits in memory; else `source` itself.

    The copy shares the records and draws the same samples; its state is the source's (checkpoints unchanged)."""
    records = getattr(source, "records", None)
    if (not isinstance(records, MemoryRecords) or not isinstance(records.images, np.ndarray)
            or records.features is not None or not vision_is_frozen(model)):
        return source
    with torch.no_grad():
        one = model.visual_tokens(pixel_values(records.processor, records.images[:1]).to(model.device))
    if one.numel() * one.element_size() * len(records.images) > FEATURE_LIMIT_BYTES:
        return source
    feats = visual_features(model, records.processor, records.images)
    out = StreamSource(records.with_features(feats), source.dcfg, source.spec.seed, source.spec.micro_batch,
                       source.rank, source.world)
    out.slots, out.skips, out.emitted = dict(source.slots), source.skips, source.emitted
    return out

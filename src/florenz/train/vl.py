"""The vision-language batch source: balanced (task, language) samples of a dataset directory.

Everything per-sample is done once up front - images decoded into one uint8 array (micro world),
encoder prompts and decoder targets tokenised into padded id tables - so a training batch is a few
fancy-indexing operations. The tables are cached on disk (`train/cache.py`) so the runs of a sweep
share one preparation. Prompts and targets follow `FlorenzProcessor.collate` exactly (a test compares them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from florenz.data.config import DataConfig
from florenz.data.dataset import ImageStore, SkipReport, TrainSet, load_split
from florenz.data.sampler import BalancedSampler
from florenz.prompts import decoder_target, encoder_prompt
from florenz.train.batches import BatchSource, pad_rows, take_padded
from florenz.train.cache import cache_root, cached_arrays, data_fingerprint, tokenizer_fingerprint

_MEMO: dict[tuple, tuple] = {}  # per process: the last (tables, images) so repeated runs skip even the mmap


class VLSource(BatchSource):
    name = "vl"

    def __init__(self, tables: dict[str, np.ndarray], images: ImageStore | np.ndarray, processor,
                 class_weights: dict, seed: int, skips: SkipReport | None = None) -> None:
        self.t, self.images, self.processor = tables, images, processor
        self.skips = skips or SkipReport()  # unusable data of the split, for the log and result.json
        names, offsets = [str(c) for c in tables["class_names"]], tables["class_offsets"]
        items = {c: tables["class_rows"][offsets[i]:offsets[i + 1]] for i, c in enumerate(names)}
        self.sampler = BalancedSampler(items, class_weights, seed=seed)

    @classmethod
    def cached(cls, data_dir: str | Path, processor, dcfg: DataConfig, seed: int) -> VLSource:
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
        return cls(tables, images, processor, dcfg.class_weights, seed, skips)

    @property
    def num_rows(self) -> int:
        return len(self.t["image_row"])

    def collate(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        t = self.t
        input_ids, attention_mask = take_padded(t["src_ids"], t["src_len"], rows)
        dec_ids, dec_mask = take_padded(t["dec_ids"], t["dec_len"], rows)
        labels = torch.from_numpy(t["labels"][rows, : dec_ids.shape[1]].astype(np.int64))
        idx = t["image_row"][rows]
        images = self.images[idx] if isinstance(self.images, np.ndarray) else self.images.batch(idx)
        return {"pixel_values": pixel_values(self.processor, images), "input_ids": input_ids,
                "attention_mask": attention_mask, "decoder_input_ids": dec_ids, "decoder_attention_mask": dec_mask,
                "labels": labels}


def build_tables(data: TrainSet, enc, dec, max_src: int, max_tgt: int) -> dict[str, np.ndarray]:
    """The processor's layout, pre-computed: encoder [bos] + prompt + [eos]; decoder input [bos] + y,
    labels y + [eos]; plus the rows of each (task, language) class for the sampler."""
    s = data.samples
    prompts = [encoder_prompt(t, lg, st, src) for t, lg, st, src in zip(s.task, s.lang, s.style, s.src, strict=True)]
    targets = [decoder_target(t, lg, y) for t, lg, y in zip(s.task, s.lang, s.tgt, strict=True)]
    body = [x[: max(max_src - 2, 0)] for x in _unique_encode(enc, prompts)]
    tgt_ids = [x[: max(max_tgt - 1, 0)] for x in _unique_encode(dec, targets)]
    src_tab, src_len = pad_rows([[enc.bos_token_id, *x, enc.eos_token_id] for x in body], enc.pad_token_id, max_src)
    dec_tab, dec_len = pad_rows([[dec.bos_token_id, *y] for y in tgt_ids], dec.pad_token_id, max_tgt)
    lab_tab, _ = pad_rows([[*y, dec.eos_token_id] for y in tgt_ids], -100, max_tgt)
    names = sorted(s.class_items)
    sizes = [len(s.class_items[c]) for c in names]
    return {"src_ids": src_tab.astype(np.int32), "src_len": src_len, "dec_ids": dec_tab.astype(np.int32),
            "dec_len": dec_len, "labels": lab_tab.astype(np.int32), "image_row": s.image,
            "class_names": np.array(names), "class_offsets": np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            "class_rows": np.concatenate([s.class_items[c] for c in names]).astype(np.int64)}


def _unique_encode(tok, texts: list[str]) -> list[list[int]]:
    """Tokenise each distinct string once, in one batched call (caption prompts repeat a lot)."""
    uniq = list(dict.fromkeys(texts))
    ids = dict(zip(uniq, tok(uniq, add_special_tokens=False)["input_ids"], strict=True))
    return [ids[x] for x in texts]


def pixel_values(processor, images) -> torch.Tensor:
    """uint8 [B, H, W, 3]: at the model's size the processor's vectorised path; other sizes (and PIL images)
    through the image processor, each array as a PIL image (resize included)."""
    if isinstance(images, np.ndarray) and images.shape[1:3] != (processor.image_size, processor.image_size):
        from PIL import Image

        return processor.pixel_values([Image.fromarray(x) for x in images])
    return processor.pixel_values(images)


FEATURE_LIMIT_BYTES = 1 << 30  # above this the features are not kept in memory (pixels are recomputed)


class FrozenVisionSource(BatchSource):
    """A VL source whose batches carry each image's visual tokens, computed once, instead of its pixels.

    With the vision tower and projector frozen (and deterministic: no drop-path), every step would recompute
    the same tokens; this computes them for all training images up front, in eval mode and without autograd,
    and hands them to the model (`visual_tokens`). It shares the inner source's sampler, so checkpoints and
    the sampled batches are those of the inner source."""

    def __init__(self, inner: VLSource, features: torch.Tensor) -> None:
        self.inner, self.features, self.sampler, self.name = inner, features, inner.sampler, inner.name

    @property
    def num_rows(self) -> int:
        return self.inner.num_rows

    def collate(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        t = self.inner.t
        input_ids, attention_mask = take_padded(t["src_ids"], t["src_len"], rows)
        dec_ids, dec_mask = take_padded(t["dec_ids"], t["dec_len"], rows)
        labels = torch.from_numpy(t["labels"][rows, : dec_ids.shape[1]].astype(np.int64))
        idx = torch.from_numpy(np.asarray(t["image_row"][rows], dtype=np.int64)).to(self.features.device)
        return {"visual_tokens": self.features[idx], "input_ids": input_ids, "attention_mask": attention_mask,
                "decoder_input_ids": dec_ids, "decoder_attention_mask": dec_mask, "labels": labels}


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


def with_frozen_vision(source: BatchSource, model) -> BatchSource:
    """`source` with pre-computed visual tokens where that is exact and fits in memory; else `source` itself."""
    if not isinstance(source, VLSource) or not isinstance(source.images, np.ndarray) or not vision_is_frozen(model):
        return source
    with torch.no_grad():
        one = model.visual_tokens(pixel_values(source.processor, source.images[:1]).to(model.device))
    if one.numel() * one.element_size() * len(source.images) > FEATURE_LIMIT_BYTES:
        return source
    return FrozenVisionSource(source, visual_features(model, source.processor, source.images))

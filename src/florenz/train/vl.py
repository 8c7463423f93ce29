"""The vision-language batch source: balanced (task, language) samples of a dataset directory.

Everything per-sample is done once up front - images decoded into one uint8 array (micro world),
encoder prompts and decoder targets tokenised into padded id tables - so a training batch is a few
fancy-indexing operations. Prompts and targets come from `florenz.prompts` (the paper's strings),
the pixel normalisation from the model's processor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from florenz.data.config import DataConfig
from florenz.data.dataset import TrainSet, load_split
from florenz.data.sampler import BalancedSampler
from florenz.prompts import decoder_target, encoder_prompt
from florenz.train.batches import BatchSource, pad_rows, take_padded

_CACHE: dict[tuple, tuple] = {}  # (data dir, tokenizers, lengths) -> (TrainSet, id tables): one load per process


class VLSource(BatchSource):
    name = "vl"

    def __init__(self, data: TrainSet, tables: dict[str, np.ndarray], processor, class_weights: dict, seed: int):
        self.data, self.t, self.processor = data, tables, processor
        self.sampler = BalancedSampler(data.samples.class_items, class_weights, seed=seed)

    @classmethod
    def cached(cls, data_dir: str | Path, processor, dcfg: DataConfig, seed: int) -> VLSource:
        enc, dec = processor_tokenizers(processor)
        key = (str(Path(data_dir).resolve()), id(enc), id(dec), dcfg.max_source_tokens, dcfg.max_target_tokens)
        if key not in _CACHE:
            data = load_split(data_dir, "train")
            _CACHE.clear()  # keep one data set in memory
            _CACHE[key] = (data, tokenize(data, enc, dec, dcfg.max_source_tokens, dcfg.max_target_tokens))
        data, tables = _CACHE[key]
        return cls(data, tables, processor, dcfg.class_weights, seed)

    @property
    def num_rows(self) -> int:
        return len(self.data.samples)

    def collate(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        t = self.t
        input_ids, attention_mask = take_padded(t["src_ids"], t["src_len"], rows)
        dec_ids, dec_mask = take_padded(t["dec_ids"], t["dec_len"], rows)
        labels = torch.from_numpy(t["labels"][rows, : dec_ids.shape[1]])
        images = self.data.images.batch(self.data.samples.image[rows])
        return {"pixel_values": pixel_values(self.processor, images), "input_ids": input_ids,
                "attention_mask": attention_mask, "decoder_input_ids": dec_ids, "decoder_attention_mask": dec_mask,
                "labels": labels}


def processor_tokenizers(processor) -> tuple:
    enc = getattr(processor, "encoder_tokenizer", None) or processor.tokenizer
    dec = getattr(processor, "decoder_tokenizer", None) or processor.tokenizer
    return enc, dec


def tokenize(data: TrainSet, enc, dec, max_src: int, max_tgt: int) -> dict[str, np.ndarray]:
    """Encoder prompt ids and teacher-forcing tables: decoder input [bos] + y, labels y + [eos]."""
    s = data.samples
    prompts = [encoder_prompt(t, lg, st, src) for t, lg, st, src in zip(s.task, s.lang, s.style, s.src, strict=True)]
    targets = [decoder_target(t, lg, y) for t, lg, y in zip(s.task, s.lang, s.tgt, strict=True)]
    src_ids = _unique_encode(enc, prompts, add_special_tokens=True)
    tgt_ids = [x[: max_tgt - 1] for x in _unique_encode(dec, targets, add_special_tokens=False)]
    src_tab, src_len = pad_rows(src_ids, enc.pad_token_id, max_src)
    dec_tab, dec_len = pad_rows([[dec.bos_token_id, *y] for y in tgt_ids], dec.pad_token_id, max_tgt)
    lab_tab, _ = pad_rows([[*y, dec.eos_token_id] for y in tgt_ids], -100, max_tgt)
    return {"src_ids": src_tab, "src_len": src_len, "dec_ids": dec_tab, "dec_len": dec_len, "labels": lab_tab}


def _unique_encode(tok, texts: list[str], add_special_tokens: bool) -> list[list[int]]:
    """Tokenise each distinct string once (caption prompts repeat across the whole data set)."""
    uniq = list(dict.fromkeys(texts))
    ids = dict(zip(uniq, tok(uniq, add_special_tokens=add_special_tokens)["input_ids"], strict=True))
    return [ids[x] for x in texts]


def pixel_values(processor, images) -> torch.Tensor:
    """uint8 [B, H, W, 3] (or PIL images) -> the model's normalised float pixels via the processor."""
    if isinstance(images, np.ndarray) and hasattr(processor, "pixels_from_uint8"):
        return processor.pixels_from_uint8(torch.from_numpy(images))
    return processor.pixel_values(images)

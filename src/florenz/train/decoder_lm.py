"""The decoder pre-training stage: the decoder alone as a language model on monolingual text.

This is how the micro world emulates a multilingual pre-trained decoder (the paper's Gemma-2): before
the vision-language stage the decoder reads `lm/{lang}.txt` of T languages, drawn uniformly per
language by the same balanced sampler (classes `lm/{lang}`) and trained by the same loop.
"""

from __future__ import annotations

import numpy as np
import torch

from florenz.data.dataset import load_lm_text
from florenz.data.sampler import BalancedSampler
from florenz.train.batches import BatchSource, pad_rows, take_padded
from florenz.train.cache import cache_root, cached_arrays, data_fingerprint, tokenizer_fingerprint

LM_FREEZE = "decoder-lm"  # freezing policy: train the decoder (and its embeddings / head) only


class DecoderLMSource(BatchSource):
    """Pre-tokenised sentences: input = [bos] + x, labels = x + [eos] (the model's alignment)."""

    name = "decoder_lm"

    def __init__(self, data_dir, langs: list[str], tokenizer, max_tokens: int, seed: int, cache_dir: str = "") -> None:
        key = (data_fingerprint(data_dir), tokenizer_fingerprint(tokenizer), list(langs), max_tokens)
        self.t = cached_arrays(cache_root(cache_dir), "lm", key,
                               lambda: build_lm_tables(data_dir, langs, tokenizer, max_tokens))
        starts = self.t["starts"]
        items = {f"lm/{lang}": np.arange(starts[i], starts[i + 1]) for i, lang in enumerate(langs)}
        self.sampler = BalancedSampler(items, seed=seed)

    @property
    def num_rows(self) -> int:
        return len(self.t["lengths"])

    def collate(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        input_ids, mask = take_padded(self.t["inputs"], self.t["lengths"], rows)
        labels = torch.from_numpy(self.t["labels"][rows, : input_ids.shape[1]].astype(np.int64))
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def build_lm_tables(data_dir, langs: list[str], tokenizer, max_tokens: int) -> dict[str, np.ndarray]:
    text = load_lm_text(data_dir, langs)
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    ids = tokenizer([s for lang in langs for s in text[lang]], add_special_tokens=False)["input_ids"]
    body = [x[: max_tokens - 1] for x in ids]  # room for bos / eos
    inputs, lengths = pad_rows([[bos, *x] for x in body], pad, max_tokens)
    labels, _ = pad_rows([[*x, eos] for x in body], -100, max_tokens)
    starts = np.cumsum([0] + [len(text[lang]) for lang in langs]).astype(np.int64)
    return {"inputs": inputs.astype(np.int32), "lengths": lengths, "labels": labels.astype(np.int32), "starts": starts}

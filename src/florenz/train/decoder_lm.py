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

LM_FREEZE = "decoder-lm"  # freezing policy: train the decoder (and its embeddings / head) only


class DecoderLMSource(BatchSource):
    """Pre-tokenised sentences: input = [bos] + x, labels = x + [eos] (the model's alignment)."""

    name = "decoder_lm"

    def __init__(self, data_dir, langs: list[str], tokenizer, max_tokens: int, seed: int) -> None:
        text = load_lm_text(data_dir, langs)
        bos, eos, self.pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
        sentences = [s for lang in langs for s in text[lang]]
        ids = tokenizer(sentences, add_special_tokens=False)["input_ids"]
        body = [x[: max_tokens - 1] for x in ids]  # room for bos / eos
        self.inputs, self.lengths = pad_rows([[bos, *x] for x in body], self.pad, max_tokens)
        self.labels, _ = pad_rows([[*x, eos] for x in body], -100, max_tokens)
        starts = np.cumsum([0] + [len(text[lang]) for lang in langs])
        items = {f"lm/{lang}": np.arange(starts[i], starts[i + 1]) for i, lang in enumerate(langs)}
        self.sampler = BalancedSampler(items, seed=seed)

    @property
    def num_rows(self) -> int:
        return len(self.inputs)

    def collate(self, rows: np.ndarray) -> dict[str, torch.Tensor]:
        input_ids, mask = take_padded(self.inputs, self.lengths, rows)
        labels = torch.from_numpy(self.labels[rows, : input_ids.shape[1]])
        return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}

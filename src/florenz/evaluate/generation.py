"""Generation for evaluation: beam search with and without the decoder language prefix.

"With prefix" forces the language's decoder prefix and strips it; "without prefix" lets the model
start freely and strips a generated prefix if present (DESIGN.md, Targets). The decoding itself is
`florenz.models.generate`; this module only batches, shows progress and strips.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from florenz.clitools import make_progress
from florenz.evaluate.loss import EvalSample, encode_prompts, pixel_batch
from florenz.prompts import strip_prefix


@torch.no_grad()
def generate_texts(model, processor, samples: Sequence[EvalSample], with_prefix: bool, beams: int = 4,
                   max_new_tokens: int = 40, batch_size: int = 32, desc: str = "generate") -> list[dict]:
    """[{"raw": decoded text (models.generate strips the prefix), "text": prefix-stripped text}] per sample."""
    from florenz.models.generate import generate

    model.eval()
    out: list[dict] = []
    with make_progress() as bar:
        task = bar.add_task(desc, total=len(samples), info="")
        for lo in range(0, len(samples), batch_size):
            chunk = samples[lo:lo + batch_size]
            input_ids, attention_mask = encode_prompts(processor, chunk, model.device)
            force = with_prefix and all(s.task == "caption" for s in chunk)  # translations have no prefix
            texts = generate(model, processor, pixel_batch(processor, [s.image for s in chunk]), input_ids,
                             attention_mask, langs=[s.lang for s in chunk], prefix=force, beams=beams,
                             max_new_tokens=max_new_tokens)
            for s, raw in zip(chunk, texts, strict=True):  # generate() already strips a (generated) prefix
                text = strip_prefix(raw, s.lang) if s.task == "caption" else raw.strip()
                out.append({"raw": raw, "text": text})
            bar.advance(task, len(chunk))
    return out

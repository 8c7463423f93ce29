"""Generation for evaluation: beam search with and without the decoder language prefix.

"With prefix" forces the language's decoder prefix and strips it; "without prefix" lets the model
start freely and strips a generated prefix if present (DESIGN.md, Targets), captions only. Forcing, stripping
and the search live in `florenz.models.prefix` (transformers' generate); this module only batches and shows progress.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from florenz.clitools import make_progress
from florenz.evaluate.loss import EvalSample, encode_prompts, pixel_batch


@torch.no_grad()
def generate_texts(model, processor, samples: Sequence[EvalSample], with_prefix: bool, beams: int = 4,
                   max_new_tokens: int = 40, batch_size: int = 32, desc: str = "generate") -> list[dict]:
    """[{"raw": decoded text, "text": the same (a caption's prefix is already stripped)}] per sample."""
    from florenz.models.prefix import generate_texts as generate

    model.eval()
    out: list[dict] = []
    with make_progress() as bar:
        task = bar.add_task(desc, total=len(samples), info="")
        for lo in range(0, len(samples), batch_size):
            chunk = samples[lo:lo + batch_size]
            input_ids, attention_mask = encode_prompts(processor, chunk, model.device)
            texts = generate(model, processor, pixel_batch(processor, [s.image for s in chunk]), input_ids,
                             attention_mask, tasks=[s.task for s in chunk], langs=[s.lang for s in chunk],
                             prefix=with_prefix, num_beams=beams, max_new_tokens=max_new_tokens)
            out += [{"raw": text, "text": text} for text in texts]
            bar.advance(task, len(chunk))
    return out

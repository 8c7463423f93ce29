"""The decoder language prefix around the library's `generate()`: forcing and stripping, for captions only.

Caption targets start with the language's prefix ("La photo montre ..."); translation targets have none
(DESIGN.md, Targets). "With prefix": [bos] + prefix is passed as `decoder_input_ids` and the text after it is
returned. "Without prefix": the model starts after [bos] alone and a prefix it generates itself is stripped.
Translations are never forced and never stripped. The search itself is transformers' (`model.generate`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from florenz.errors import FlorenzError
from florenz.prompts import strip_prefix


def decoder_prompt(processor, task: str, lang: str, prefix: bool) -> list[int]:
    """[bos] (+ the language's prefix tokens for a caption with prefix=True)."""
    forced = processor.prefix_ids(lang) if prefix and task == "caption" else []
    return [processor.decoder_tokenizer.bos_token_id, *forced]


def finish_text(processor, ids: Sequence[int] | torch.Tensor, task: str, lang: str) -> str:
    """Generated ids (after the decoder prompt) -> text; a caption's (generated) prefix is stripped."""
    text = processor.decode(ids, lang, strip_prefix=False)
    return strip_prefix(text, lang) if task == "caption" else text


def sequence_scores(model, out, prompt_len: int, length_penalty: float) -> list[float]:
    """One score per row: beam search's own `sequences_scores`, else the generated tokens' log-probabilities
    summed up to and including EOS and divided by length**length_penalty (beam search's convention)."""
    if getattr(out, "sequences_scores", None) is not None:
        return out.sequences_scores.float().tolist()
    logp = model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True).float()
    eos = model.generation_config.eos_token_id
    gen = out.sequences[:, prompt_len:]
    scores = []
    for row, toks in zip(logp, gen.tolist(), strict=True):
        n = toks.index(eos) + 1 if eos in toks else len(toks)
        scores.append(float(row[:n].sum()) / max(n, 1) ** length_penalty)
    return scores


@torch.no_grad()
def generate_texts(model, processor, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                   attention_mask: torch.Tensor, tasks: str | Sequence[str], langs: str | Sequence[str],
                   prefix: bool = True, return_scores: bool = False, **generate_kwargs):
    """Texts (and scores) for a batch: rows are grouped by decoder prompt (prefixes differ in length per
    language), each group goes through `model.generate(**generate_kwargs)` (num_beams, max_new_tokens,
    no_repeat_ngram_size, do_sample, ...). Scores are of the generated tokens, the forced prefix excluded."""
    n = input_ids.shape[0]
    tasks = [tasks] * n if isinstance(tasks, str) else list(tasks)
    langs = [langs] * n if isinstance(langs, str) else list(langs)
    if len(tasks) != n or len(langs) != n:
        raise FlorenzError(f"generate: {len(tasks)} tasks and {len(langs)} languages for a batch of {n}")
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (task, lang) in enumerate(zip(tasks, langs, strict=True)):
        groups.setdefault(tuple(decoder_prompt(processor, task, lang, prefix)), []).append(i)
    max_new, max_pos = generate_kwargs.get("max_new_tokens", 0), model.decoder_config.max_position_embeddings
    if max_new + max(map(len, groups), default=0) > max_pos:
        raise FlorenzError(f"generate: max_new_tokens={max_new} exceeds the decoder's {max_pos} positions")
    texts: list[str] = [""] * n
    scores: list[float] = [0.0] * n
    was_training = model.training
    model.eval()
    try:
        for prompt, rows in groups.items():
            idx = torch.tensor(rows, device=input_ids.device)
            dec = torch.tensor([prompt] * len(rows), device=model.device)
            out = model.generate(pixel_values=pixel_values[idx].to(model.device),
                                 input_ids=input_ids[idx].to(model.device),
                                 attention_mask=attention_mask[idx].to(model.device), decoder_input_ids=dec,
                                 return_dict_in_generate=True, output_scores=return_scores, **generate_kwargs)
            gen = out.sequences[:, len(prompt):]
            if return_scores:
                lp = generate_kwargs.get("length_penalty", model.generation_config.length_penalty)
                lp = 1.0 if lp is None else lp  # transformers' default
                for r, s in zip(rows, sequence_scores(model, out, len(prompt), lp), strict=True):
                    scores[r] = s
            for r, ids in zip(rows, gen, strict=True):
                texts[r] = finish_text(processor, ids, tasks[r], langs[r])
    finally:
        model.train(was_training)
    return (texts, scores) if return_scores else texts

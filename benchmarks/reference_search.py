"""The hand-written greedy / beam search florenz used before issue 16 (formerly florenz/models/generate.py).

Kept here only as the reference: tests/data/search_reference.json was recorded with it, and
benchmarks/generation_cache.py times the library's generate() against it. Nothing in src/ imports it.

The encoder runs once per input; with `use_cache=True` the decoder sees one new token per step and the
cross-attention keys/values are computed once (EncoderDecoderCache), whereas `use_cache=False` re-runs the
whole decoder prefix each step (the authors' setting). Both give the same tokens. A decoder prefix
("La photo montre") can be forced after BOS; it is stripped from the returned text either way.
"""

from __future__ import annotations

import torch

from florenz.errors import FlorenzError


@torch.no_grad()
def generate(
    model,
    processor,
    pixel_values: torch.Tensor,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    langs: str | list[str],
    prefix: bool = True,
    beams: int = 4,
    max_new_tokens: int = 64,
    use_cache: bool = True,
    return_scores: bool = False,
    length_penalty: float = 1.0,
) -> list[str] | tuple[list[str], list[float]]:
    """Captions/translations for a batch; `langs` is one code or one per row. Scores are length-normalised
    sums of token log-probabilities (sum / len**length_penalty), as in transformers' beam search."""
    n = pixel_values.shape[0]
    langs = [langs] * n if isinstance(langs, str) else list(langs)
    if len(langs) != n:
        raise FlorenzError(f"generate: {len(langs)} languages for a batch of {n}")
    if beams < 1 or max_new_tokens < 1:
        raise FlorenzError(f"generate: beams and max_new_tokens must be >= 1 (got {beams}, {max_new_tokens})")
    forced = [processor.prefix_ids(lang) if prefix else [] for lang in langs]
    max_pos = getattr(model.decoder_config, "max_position_embeddings", None)
    if max_pos and max_new_tokens + max(map(len, forced)) + 1 > max_pos:
        raise FlorenzError(f"generate: max_new_tokens={max_new_tokens} exceeds the decoder's {max_pos} positions")
    was_training = model.training
    model.eval()
    try:
        enc = model.encode(pixel_values.to(model.device), input_ids.to(model.device), attention_mask.to(model.device))
        tok = processor.decoder_tokenizer
        search = _greedy if beams == 1 else _beam
        seqs, scores = search(model, enc, forced, tok.bos_token_id, tok.eos_token_id, beams, max_new_tokens,
                              use_cache, length_penalty)
    finally:
        model.train(was_training)
    texts = [processor.decode(s, lang, strip_prefix=True) for s, lang in zip(seqs, langs, strict=True)]
    return (texts, scores) if return_scores else texts


class _Stepper:
    """Next-token log-probs for a growing batch of sequences, cached or not; reorders beams."""

    def __init__(self, model, enc, use_cache: bool) -> None:
        self.model, self.enc, self.use_cache, self.cache = model, enc, use_cache, None

    def __call__(self, seqs: torch.Tensor) -> torch.Tensor:
        inp = seqs[:, -1:] if self.use_cache and self.cache is not None else seqs
        out = self.model.decode(inp, self.enc, cache=self.cache, use_cache=self.use_cache)
        self.cache = out.cache
        return torch.log_softmax(out.logits[:, -1].float(), dim=-1)

    def reorder(self, index: torch.Tensor) -> None:
        if self.cache is not None:
            self.cache.reorder_cache(index)


def _force(logp: torch.Tensor, forced: list[list[int]], step: int, rows: torch.Tensor) -> torch.Tensor:
    """Keep only the forced prefix token for rows still inside their prefix."""
    for r, b in enumerate(rows.tolist()):
        if step < len(forced[b]):
            keep = logp[r, forced[b][step]].clone()
            logp[r].fill_(-float("inf"))
            logp[r, forced[b][step]] = keep
    return logp


def _greedy(model, enc, forced, bos, eos, beams, max_new, use_cache, lp):
    n = enc.states.shape[0]
    step_fn = _Stepper(model, enc, use_cache)
    seqs = torch.full((n, 1), bos, dtype=torch.long, device=enc.states.device)
    limits = [max_new + len(f) for f in forced]
    done = [False] * n
    total = [0.0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    rows = torch.arange(n)
    for step in range(max(limits)):
        logp = _force(step_fn(seqs), forced, step, rows)
        best = logp.argmax(-1)
        for b in range(n):
            if not done[b]:
                t = int(best[b])
                total[b] += float(logp[b, t])
                out[b].append(t)
                done[b] = t == eos or len(out[b]) >= limits[b]
        seqs = torch.cat([seqs, best[:, None]], dim=1)
        if all(done):
            break
    scores = [s / max(len(o), 1) ** lp for s, o in zip(total, out, strict=True)]
    return out, scores


def _beam(model, enc, forced, bos, eos, k, max_new, use_cache, lp):
    n = enc.states.shape[0]
    dev = enc.states.device
    enc = type(enc)(enc.states.repeat_interleave(k, 0), enc.mask.repeat_interleave(k, 0))
    step_fn = _Stepper(model, enc, use_cache)
    seqs = torch.full((n * k, 1), bos, dtype=torch.long, device=dev)
    beam_scores = torch.full((n, k), -float("inf"), device=dev)
    beam_scores[:, 0] = 0.0  # all beams start identical: expand only the first
    limits = [max_new + len(f) for f in forced]
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]
    done = [False] * n
    rows = torch.arange(n).repeat_interleave(k)
    for step in range(max(limits)):
        logp = _force(step_fn(seqs), forced, step, rows)
        vocab = logp.shape[-1]
        cand = (beam_scores[:, :, None] + logp.view(n, k, vocab)).view(n, k * vocab)
        top_scores, top_idx = cand.topk(2 * k, dim=1)
        next_beam, next_tok, next_score = [], [], []
        length = step + 1
        for b in range(n):
            chosen: list[tuple[int, int, float]] = []
            for rank, (s, i) in enumerate(zip(top_scores[b].tolist(), top_idx[b].tolist(), strict=True)):
                src, t = divmod(i, vocab)
                if done[b] or s == -float("inf"):
                    break
                if t == eos or length >= limits[b]:
                    if rank < k:
                        tokens = seqs[b * k + src, 1:].tolist() + [t]
                        finished[b].append((s / length**lp, tokens))
                    if t == eos:
                        continue
                chosen.append((src, t, s))
                if len(chosen) == k:
                    break
            finished[b].sort(key=lambda h: -h[0])
            del finished[b][k:]
            best_running = chosen[0][2] / length**lp if chosen else -float("inf")
            if not done[b]:
                full = len(finished[b]) >= k and finished[b][-1][0] >= best_running
                done[b] = full or length >= limits[b] or not chosen
            while len(chosen) < k:  # finished rows (or too few candidates) keep dummy beams
                chosen.append((0, eos, -float("inf")))
            for src, t, s in chosen:
                next_beam.append(b * k + src)
                next_tok.append(t)
                next_score.append(s)
        index = torch.tensor(next_beam, device=dev)
        seqs = torch.cat([seqs[index], torch.tensor(next_tok, device=dev)[:, None]], dim=1)
        beam_scores = torch.tensor(next_score, device=dev).view(n, k)
        step_fn.reorder(index)
        if all(done):
            break
    out, scores = [], []
    for b in range(n):
        if not finished[b]:  # only possible if every candidate was -inf
            finished[b].append((-float("inf"), seqs[b * k, 1:].tolist()))
        score, tokens = max(finished[b], key=lambda h: h[0])
        out.append(tokens)
        scores.append(score)
    return out, scores


def record(out_dir: str) -> None:
    """Write tests/data/: one old-format checkpoint per decoder kind and this search's outputs on it."""
    import json
    from pathlib import Path

    from PIL import Image

    from florenz.data.shards import Sample
    from florenz.data.tokenizer import train_tokenizer
    from florenz.models.build import build
    from florenz.models.checkpoint import save_model
    from florenz.models.config import ModelConfig
    from florenz.prompts import all_prompt_texts

    text = ["a dog runs on the grass", "two men play football", "une femme marche", "ein Hund läuft im Park",
            "a red ball and a blue cube", "the cat sits under the table"] * 5
    langs = ["en", "fr", "de"]
    tok = train_tokenizer(text + all_prompt_texts(langs), vocab_size=300)
    out = Path(out_dir)
    result = {}
    for name in ("micro-bart-xs", "micro-gemma-xs"):
        torch.manual_seed(1)
        model, proc = build(ModelConfig(preset=name), tok)
        model.eval()
        save_model(model, proc, out / f"old-{name}")
        imgs = [Image.new("RGB", (72, 60), (40 * i, 100, 20)) for i in range(3)]
        samples = [Sample("caption", "en", "a dog runs"), Sample("translation", "fr", "une femme", src="a woman"),
                   Sample("caption", "de", "ein Hund läuft im Park")]
        b = proc.collate(imgs, samples, max_source_tokens=48, max_target_tokens=24)
        with torch.no_grad():
            enc = model.encode(b["pixel_values"], b["input_ids"], b["attention_mask"])
            for prefix in (False, True):
                forced = [proc.prefix_ids(lang) if prefix else [] for lang in langs]
                for beams in (1, 4):
                    search = _greedy if beams == 1 else _beam
                    seqs, scores = search(model, enc, forced, tok.bos_token_id, tok.eos_token_id, beams, 12, True, 1.0)
                    result[f"{name}/beams={beams}/prefix={prefix}"] = {"tokens": seqs, "scores": scores}
    (out / "search_reference.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    import sys

    record(sys.argv[1])

"""Speed-up of cached (self- + cross-attention K/V) over uncached generation at 64 new tokens.

Usage: python benchmarks/generation_cache.py [--preset micro-gemma-s] [--batch 8] [--tokens 64] [--threads 2]
Random-init micro model, 64 px images; EOS is disabled so every run decodes exactly --tokens tokens.
Also checks that both paths return identical tokens.
"""

from __future__ import annotations

import argparse
import time

import torch
from florenz.models.generate import _beam, _greedy

from florenz.data.tokenizer import train_tokenizer
from florenz.models.build import build_model
from florenz.models.config import ModelConfig
from florenz.prompts import all_prompt_texts


def run(preset: str, batch: int, tokens: int, beams: int) -> dict:
    torch.manual_seed(0)
    tok = train_tokenizer(all_prompt_texts(["en", "fr", "de"]) * 20, vocab_size=1500)
    model = build_model(ModelConfig(preset=preset), tok).eval()
    pixels = torch.randn(batch, 3, 64, 64)
    ids = torch.randint(4, len(tok), (batch, 16))
    with torch.no_grad():
        enc = model.encode(pixels, ids, torch.ones_like(ids))
        search = _greedy if beams == 1 else _beam
        out, times = {}, {}
        for use_cache in (True, False):
            search(model, enc, [[]] * batch, tok.bos_token_id, -1, beams, 4, use_cache, 1.0)  # warm-up
            t = time.perf_counter()
            out[use_cache], _ = search(model, enc, [[]] * batch, tok.bos_token_id, -1, beams, tokens, use_cache, 1.0)
            times[use_cache] = time.perf_counter() - t
    assert out[True] == out[False], "cached and uncached generation differ"
    assert all(len(s) == tokens for s in out[True])
    return {"preset": preset, "beams": beams, "batch": batch, "tokens": tokens, "cached_s": times[True],
            "uncached_s": times[False], "speedup": times[False] / times[True]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", action="append")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for preset in args.preset or ["micro-gemma-s", "micro-bart-s"]:
        for beams in (1, 4):
            r = run(preset, args.batch, args.tokens, beams)
            print(f"{r['preset']:<15} beams={r['beams']} batch={r['batch']} new_tokens={r['tokens']}: "
                  f"cached {r['cached_s']:.2f}s  uncached {r['uncached_s']:.2f}s  speed-up {r['speedup']:.1f}x "
                  "(identical tokens)")


if __name__ == "__main__":
    main()

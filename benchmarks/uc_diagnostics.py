"""Where does an unseen-language caption's language (and content) come from? Two checks on a trained micro run.

1. Prompt vs prefix: caption the held-out images with the decoder prefix of language L forced, once with L's own
   encoder prompt ("The target language is L ...") and once with the English and the German prompt. If the
   continuation follows the prompt's language rather than the prefix's, cross-attention, not the decoder's
   language model, decides the output language.
2. The decoder alone (no encoder states, cross-attention skipped), sampled after each language's prefix: does the
   language model still continue in that language? Run it on a run's model, and with `--lm-entry` on a
   decoder-LM cache entry (the decoder right after its pre-training stage) to see what the VL stage changed.

    PYTHONPATH=src python benchmarks/uc_diagnostics.py RUN_DIR [--lm-entry CACHE/ENTRY/stage.pt] [--n 48]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

LANGS = ("en", "de", "fr", "es", "ru", "zh")


def prompt_vs_prefix(model, processor, items: dict, beams: int = 2) -> None:
    from florenz.evaluate.generation import encode_prompts, pixel_batch
    from florenz.evaluate.loss import EvalSample
    from florenz.evaluate.metrics.attributes import attribute_accuracy, world_fidelity
    from florenz.models.prefix import generate_texts

    print("| prefix language | prompt | attribute acc. % | in prefix language % |\n|---|---|---|---|")
    for lang in LANGS:
        chunk = items[lang]
        scenes = [s.meta["scene"] for s in chunk]
        for prompt in dict.fromkeys((lang, "en", "de")):
            asked = [EvalSample("caption", prompt, "", "", "short", s.image, s.meta) for s in chunk]
            ids, mask = encode_prompts(processor, asked, model.device)
            with torch.no_grad():
                texts = generate_texts(model, processor, pixel_batch(processor, [s.image for s in chunk]), ids, mask,
                                       tasks=["caption"] * len(chunk), langs=[lang] * len(chunk), prefix=True,
                                       num_beams=beams, max_new_tokens=28)
            print(f"| {lang} | {prompt} | {attribute_accuracy(texts, scenes, lang):.1f} | "
                  f"{world_fidelity(texts, lang):.0f} |", flush=True)


def decoder_alone(model, processor, label: str, n: int = 32, tokens: int = 24) -> None:
    from florenz.world.parse import in_language

    tok = processor.decoder_tokenizer
    shares = []
    for lang in LANGS:
        ids = torch.tensor([[tok.bos_token_id, *processor.prefix_ids(lang)]]).repeat(n, 1)
        with torch.no_grad():
            for _ in range(tokens):
                logits = model.decode(ids, None).logits[:, -1]
                ids = torch.cat([ids, torch.distributions.Categorical(logits=logits).sample()[:, None]], 1)
        texts = [processor.decode(row, lang) for row in ids.tolist()]
        shares.append(f"{lang} {100 * sum(in_language(t, lang) for t in texts) / n:.0f} %")
    print(f"decoder alone ({label}), sampled continuations in the prefix's language: " + ", ".join(shares))


def main() -> None:
    from florenz.evaluate.runner import _generation_items, heldout_samples, load_for_eval
    from florenz.io import read_json

    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--lm-entry", type=Path, help="a decoder-LM cache entry (stage.pt) of the same model config")
    ap.add_argument("--n", type=int, default=48, help="held-out images per language")
    a = ap.parse_args()
    torch.manual_seed(0)
    model, processor = load_for_eval(a.run / "model")
    model.eval()
    data = Path(read_json(a.run / "result.json")["data"])
    samples, _ = heldout_samples(data, 128)
    prompt_vs_prefix(model, processor, _generation_items(samples, a.n))
    decoder_alone(model, processor, "after the VL stage")
    if a.lm_entry:
        model.load_state_dict(torch.load(a.lm_entry, weights_only=False)["model"], strict=False)
        decoder_alone(model, processor, "after the decoder-LM stage")


if __name__ == "__main__":
    main()

"""Held-out CE: per-sample token mean against a hand computation, classes, UC/ST/SC groups from stats,
and CoMMuTE through the real CE path with a blank image = exactly 50.0 (image-blind by construction)."""

from __future__ import annotations

import pytest
import torch

from florenz.data.benchmarks.commute import load_commute
from florenz.evaluate.commute import score_commute, unbalanced_items
from florenz.evaluate.loss import EvalSample, as_samples, ce_groups, ce_per_class, group_languages, sample_ce
from florenz.prompts import all_prompt_texts


def test_groups_come_from_training_coverage_and_are_count_weighted():
    stats = {"counts": {"caption/en": 10, "caption/de": 5, "translation/de": 3, "translation/fr": 4,
                        "translation/zh": 2, "caption/zh": 0}}
    g = group_languages(stats)
    assert g == {"UC": ["caption/fr", "caption/zh"], "ST": ["translation/fr", "translation/zh"],
                 "SC": ["caption/de", "caption/en"]}
    per_class = {"caption/fr": 3.0, "caption/zh": 5.0, "translation/fr": 1.0, "caption/en": 2.0, "caption/de": 4.0}
    counts = {"caption/fr": 3, "caption/zh": 1, "translation/fr": 2, "caption/en": 1, "caption/de": 3}
    groups = ce_groups(per_class, counts, stats)
    assert groups["UC"] == pytest.approx((3 * 3 + 5) / 4)
    assert groups["SC"] == pytest.approx((2 + 4 * 3) / 4)
    assert groups["ST"] == pytest.approx(1.0)  # zh translation not evaluated: only fr counts
    samples = [EvalSample("caption", "fr", "x"), EvalSample("caption", "fr", "y"), EvalSample("translation", "de")]
    means, n = ce_per_class(samples, [1.0, 2.0, 5.0])
    assert means == {"caption/fr": 1.5, "translation/de": 5.0} and n == {"caption/fr": 2, "translation/de": 1}


@pytest.fixture(scope="module")
def tiny(shared_data):
    from florenz.data.tokenizer import train_tokenizer
    from florenz.models.build import build
    from florenz.models.config import ModelConfig

    items = load_commute(shared_data / "commute", "fr", text_only=True)
    texts = [t for it in items for t in (it.src, it.correct, it.incorrect)] + all_prompt_texts(["en", "fr", "de"])
    tok = train_tokenizer(texts * 2, vocab_size=600)
    torch.manual_seed(0)
    model, processor = build(ModelConfig(preset="micro-bart-xs"), tokenizer=tok)
    return model, processor, items


def test_sample_ce_is_token_mean_per_sample(tiny):
    model, proc, _ = tiny
    samples = [EvalSample("translation", "fr", "la banque", "the bank"),
               EvalSample("caption", "fr", "un chat noir et un chien blanc sur une table")]
    ce = sample_ce(model, proc, samples, batch_size=2)
    for s, value in zip(samples, ce, strict=True):  # one at a time (no padding) via model(..., labels).loss
        batch = proc.collate([_black(proc)], as_samples([s]))
        with torch.no_grad():
            loss = model(**batch).loss
        assert value == pytest.approx(float(loss), abs=1e-4)
    by_hand = samples[1]
    ids = proc.decoder_tokenizer("La photo montre " + by_hand.tgt, add_special_tokens=False)["input_ids"]
    assert proc.collate([_black(proc)], as_samples([by_hand]))["labels"][0, -1] == proc.decoder_tokenizer.eos_token_id
    assert len(ids) + 1 == int((proc.collate([_black(proc)], as_samples([by_hand]))["labels"] != -100).sum())


def _black(proc):
    from PIL import Image

    return Image.new("RGB", (proc.image_size, proc.image_size))


def test_commute_through_real_model_text_only_is_exactly_50(tiny):
    model, proc, items = tiny
    items = [it for it in items if it.id not in set(unbalanced_items(items))][:60]

    def ce_fn(triples):
        return sample_ce(model, proc, [EvalSample("translation", "fr", t, s) for _img, s, t in triples], 16)

    res = score_commute(items, ce_fn)
    assert res["accuracy"] == 50.0 and res["text_only"]

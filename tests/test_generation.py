"""transformers' generate() on florenz: the recorded outputs of the old hand-written search, every strategy,
save_pretrained -> Auto from_pretrained, and old checkpoints converted.

tests/data/ holds one old-layout checkpoint per decoder kind and the outputs the hand-written search gave on it
(benchmarks/reference_search.py, recorded before it was removed from src/).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from florenz.data.shards import Sample
from florenz.errors import FlorenzError
from florenz.models.checkpoint import convert, load_model, save_model

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "search_reference.json").read_text())
KINDS = ["micro-bart-xs", "micro-gemma-xs"]
LANGS = ["en", "fr", "de"]


def _inputs(proc) -> dict:
    imgs = [Image.new("RGB", (72, 60), (40 * i, 100, 20)) for i in range(3)]
    samples = [Sample("caption", "en", "a dog runs"), Sample("translation", "fr", "une femme", src="a woman"),
               Sample("caption", "de", "ein Hund läuft im Park")]
    b = proc.collate(imgs, samples, max_source_tokens=48, max_target_tokens=24)
    return {k: b[k] for k in ("pixel_values", "input_ids", "attention_mask")}


@pytest.fixture(scope="module", params=KINDS)
def loaded(request):
    model, proc = load_model(DATA / f"old-{request.param}")
    return request.param, model, proc


@pytest.mark.parametrize("beams", [1, 4])
def test_generate_reproduces_the_old_search_without_prefix(loaded, beams):
    """Same tokens and scores: beam search's sequences_scores and greedy's mean log-prob (length_penalty=1)."""
    from florenz.models.prefix import sequence_scores

    name, model, proc = loaded
    ref = REFERENCE[f"{name}/beams={beams}/prefix=False"]
    out = model.generate(**_inputs(proc), num_beams=beams, max_new_tokens=12, return_dict_in_generate=True,
                         output_scores=True)
    assert out.sequences[:, 1:].tolist() == ref["tokens"]
    assert sequence_scores(model, out, 1, 1.0) == pytest.approx(ref["scores"], abs=1e-5)


@pytest.mark.parametrize("beams", [1, 4])
def test_generate_reproduces_the_old_search_with_prefix(loaded, beams):
    """The prefix is now decoder_input_ids, so its log-probs are no longer part of the score (documented
    difference): old_score * (prefix + generated) == new_score * generated + logp(prefix). Tokens are the same."""
    name, model, proc = loaded
    ref = REFERENCE[f"{name}/beams={beams}/prefix=True"]
    inputs = _inputs(proc)
    for i, lang in enumerate(LANGS):
        prompt = [proc.decoder_tokenizer.bos_token_id, *proc.prefix_ids(lang)]
        row = {k: v[i:i + 1] for k, v in inputs.items()}
        out = model.generate(**row, decoder_input_ids=torch.tensor([prompt]), num_beams=beams, max_new_tokens=12,
                             return_dict_in_generate=True, output_scores=True)
        tokens = out.sequences[0, 1:].tolist()
        assert tokens == ref["tokens"][i]
        with torch.no_grad():
            logits = model(**row, decoder_input_ids=out.sequences).logits.float().log_softmax(-1)
        logp = logits[0, :-1].gather(-1, out.sequences[0, 1:, None])[:, 0].double()
        p = len(prompt) - 1
        g = len(tokens) - p
        new = float(out.sequences_scores[0]) if beams > 1 else float(logp[p:].sum()) / g
        assert ref["scores"][i] * (p + g) == pytest.approx(new * g + float(logp[:p].sum()), abs=1e-3)


def test_every_strategy_runs(loaded):
    name, model, proc = loaded
    inputs = _inputs(proc)
    torch.manual_seed(0)
    runs = [dict(num_beams=4, no_repeat_ngram_size=3, early_stopping=True, length_penalty=0.5),
            dict(do_sample=True, top_k=20, temperature=0.8), dict(do_sample=True, num_beams=2, top_p=0.9),
            dict(num_beams=2, num_return_sequences=2)]
    for kw in runs:
        out = model.generate(**inputs, max_new_tokens=8, **kw)
        assert out.shape[0] == 3 * kw.get("num_return_sequences", 1) and out.shape[1] <= 9
    out = model.generate(**inputs, max_new_tokens=9, num_beams=4, no_repeat_ngram_size=3)
    for row in out.tolist():
        grams = [tuple(row[j:j + 3]) for j in range(len(row) - 2)]
        assert len(grams) == len(set(grams))  # the library's n-gram blocking is in effect


def test_cached_equals_uncached(loaded):
    _, model, proc = loaded
    for beams in (1, 4):
        a = model.generate(**_inputs(proc), num_beams=beams, max_new_tokens=10, use_cache=True)
        b = model.generate(**_inputs(proc), num_beams=beams, max_new_tokens=10, use_cache=False)
        assert torch.equal(a, b)


def test_save_pretrained_round_trips_through_the_auto_classes(loaded, tmp_path):
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoModelForSeq2SeqLM

    import florenz  # noqa: F401  (registers the Auto classes)

    name, model, proc = loaded
    save_model(model, proc, tmp_path / "m")
    assert AutoConfig.from_pretrained(tmp_path / "m").model_type == "florenz"
    for auto in (AutoModelForImageTextToText, AutoModelForSeq2SeqLM):
        again = auto.from_pretrained(tmp_path / "m")
        a = dict(model.named_buffers()) | model.state_dict()
        b = dict(again.named_buffers()) | again.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert again.lm_head.weight is again.decoder.embed_tokens.weight and not again.training
        assert torch.equal(model.generate(**_inputs(proc), num_beams=4, max_new_tokens=8),
                           again.generate(**_inputs(proc), num_beams=4, max_new_tokens=8))


def test_converted_old_checkpoint_gives_identical_outputs(loaded, tmp_path):
    name, model, proc = loaded
    old = DATA / f"old-{name}"
    with pytest.raises(FlorenzError, match="not an old-layout"):
        convert(tmp_path, tmp_path / "x")
    cmd = [sys.executable, "-m", "florenz.cli", "convert", str(old), str(tmp_path / "new")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "new" / "config.json").is_file() and not (tmp_path / "new" / "florenz.json").exists()
    new_model, new_proc = load_model(tmp_path / "new")
    a, b = model.state_dict(), new_model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    inputs = _inputs(proc)
    with torch.no_grad():
        dec = torch.tensor([[proc.decoder_tokenizer.bos_token_id, 5, 6]] * 3)
        before, after = model(**inputs, decoder_input_ids=dec), new_model(**inputs, decoder_input_ids=dec)
        assert torch.equal(before.logits, after.logits)
    assert torch.equal(model.generate(**inputs, num_beams=4, max_new_tokens=12),
                       new_model.generate(**_inputs(new_proc), num_beams=4, max_new_tokens=12))
    with pytest.raises(FlorenzError, match="exists and is not empty"):
        convert(old, tmp_path / "new")


def test_import_florenz_registers_the_auto_classes_lazily():
    """After `import florenz` the Auto classes know florenz, yet `import florenz` imports no transformers."""
    code = ("import sys, florenz; assert 'transformers' not in sys.modules and 'torch' not in sys.modules; "
            "from transformers import AutoConfig; print(type(AutoConfig.for_model('florenz')).__name__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "FlorenzConfig", done.stderr

"""Florenz model: shapes, no-op insertion, freezing, save/load, processor and cached generation."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from transformers import Gemma2Model

from florenz.data.shards import Sample
from florenz.data.tokenizer import train_tokenizer
from florenz.errors import FlorenzError
from florenz.models.build import build, build_model
from florenz.models.checkpoint import load_model, save_model
from florenz.models.config import ModelConfig
from florenz.models.freezing import apply_freezing, count_parameters
from florenz.models.prefix import generate_texts
from florenz.models.presets import get_preset
from florenz.prompts import all_prompt_texts

LANGS = ["en", "fr", "de"]
TEXT = ["a dog runs on the grass", "two men play football", "une femme marche", "ein Hund läuft im Park",
        "a red ball and a blue cube", "the cat sits under the table"] * 5


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXT + all_prompt_texts(LANGS), vocab_size=300)


def _batch(proc):
    imgs = [Image.new("RGB", (72, 60), (40 * i, 100, 20)) for i in range(3)]
    samples = [Sample("caption", "en", "a dog runs"), Sample("translation", "fr", "une femme", src="a woman"),
               Sample("caption", "de", "ein Hund läuft im Park")]
    return proc.collate(imgs, samples, max_source_tokens=48, max_target_tokens=24)


def _model(name, tok, seed=0):
    torch.manual_seed(seed)
    cfg = ModelConfig(preset=name)
    return build(cfg, tok)


@pytest.mark.parametrize("name", ["micro-bart-xs", "micro-gemma-xs"])
def test_forward_shapes_and_loss(name, tok):
    model, proc = _model(name, tok)
    b = _batch(proc)
    assert b["pixel_values"].shape == (3, 3, 64, 64)
    assert (b["decoder_input_ids"][:, 0] == tok.bos_token_id).all()
    out = model(**b)
    assert out.logits.shape == (*b["decoder_input_ids"].shape, len(tok))
    ref = torch.nn.functional.cross_entropy(out.logits[b["labels"] != -100], b["labels"][b["labels"] != -100])
    assert torch.allclose(out.loss, ref)
    enc = model.encode(b["pixel_values"], b["input_ids"], b["attention_mask"])
    assert enc.states.shape[1] == 17 + b["input_ids"].shape[1] == enc.mask.shape[1]
    lm = model.decoder_lm_loss(b["decoder_input_ids"], b["decoder_attention_mask"], b["labels"])
    assert torch.isfinite(lm) and len(model.decoder_layers()) == len(model.decoder.layers)
    assert model.config.decoder_kind == name.split("-")[1] and model.config.image_size == 64


def test_collate_labels_and_prompts(tok):
    _, proc = _model("micro-bart-xs", tok)
    b = _batch(proc)
    n_target = b["decoder_attention_mask"].sum(1)
    for i in range(3):
        labels = b["labels"][i]
        assert (labels[n_target[i]:] == -100).all() and labels[n_target[i] - 1] == tok.eos_token_id
        assert torch.equal(b["decoder_input_ids"][i, 1:n_target[i]], labels[: n_target[i] - 1])
    assert proc.decode(b["decoder_input_ids"][0, 1:], "en") == "a dog runs"
    assert proc.decode(b["decoder_input_ids"][0, 1:], "en", strip_prefix=False) == "The image shows a dog runs"
    with pytest.raises(FlorenzError, match="unknown language 'xx'.*known"):
        proc.collate([Image.new("RGB", (8, 8))], [Sample("caption", "xx", "y")])


def test_gate_zero_is_noop(tok):
    """With g = 0 the Gemma-kind decoder equals the plain Gemma-2 decoder on the same input."""
    model, proc = _model("micro-gemma-s", tok)
    b = _batch(proc)
    with torch.no_grad():
        for layer in model.decoder.layers:  # a non-trivial cross block that the zero gate must silence
            layer.cross_attn.o_proj.weight.normal_()
            layer.cross_norm.weight.normal_()
    plain = Gemma2Model(model.decoder_config).eval()
    missing, unexpected = plain.load_state_dict(model.decoder.state_dict(), strict=False)
    assert not missing and all("cross" in k for k in unexpected)
    enc = model.encode(b["pixel_values"], b["input_ids"], b["attention_mask"])
    ids, mask = b["decoder_input_ids"], b["decoder_attention_mask"]
    ours = model.decoder(input_ids=ids, attention_mask=mask, encoder_hidden_states=enc.states,
                         encoder_attention_mask=enc.mask).last_hidden_state
    ref = plain(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(ours, ref, atol=1e-6, rtol=0)
    with torch.no_grad():
        model.decoder.layers[0].cross_gate.fill_(0.5)
    moved = model.decoder(input_ids=ids, attention_mask=mask, encoder_hidden_states=enc.states,
                          encoder_attention_mask=enc.mask).last_hidden_state
    assert not torch.allclose(moved, ref, atol=1e-4)
    layer = model.decoder.layers[1]
    assert layer.cross_attn.k_proj.in_features == model.encoder.config.d_model
    assert layer.cross_attn.q_proj.out_features == model.decoder_config.num_attention_heads * 24


@pytest.mark.parametrize(("name", "policy"), [("micro-gemma-xs", "default"), ("micro-bart-xs", "default"),
                                              ("micro-gemma-xs", "decoder-lm"), ("micro-gemma-xs", "train-vision"),
                                              ("micro-gemma-xs", "frozen-embeddings")])
def test_frozen_weights_unchanged_after_step(name, policy, tok):
    model, proc = _model(name, tok)
    apply_freezing(model, policy)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    b = _batch(proc)
    with torch.no_grad():  # a non-zero gate so that the cross blocks receive gradient
        for layer in getattr(model.decoder, "layers", []):
            if hasattr(layer, "cross_gate"):
                layer.cross_gate.fill_(0.1)
                before[next(k for k, v in model.named_parameters() if v is layer.cross_gate)].fill_(0.1)
    loss = model.decoder_lm_loss(b["decoder_input_ids"], b["decoder_attention_mask"], b["labels"]) \
        if policy == "decoder-lm" else model(**b).loss
    loss.backward()
    opt.step()
    total, trainable = count_parameters(model)
    assert 0 < trainable < total
    for k, p in model.named_parameters():
        if p.requires_grad:
            continue
        assert torch.equal(p, before[k]), k
    changed = [k for k, p in model.named_parameters() if p.requires_grad and not torch.equal(p, before[k])]
    assert any(k.startswith("decoder.") for k in changed)
    grads = {k for k, p in model.named_parameters() if p.requires_grad}
    vision_trained = any(k.startswith(("vision_tower.", "projector.")) for k in changed)
    assert vision_trained == (policy == "train-vision")
    if name.startswith("micro-gemma") and policy in ("default", "train-vision", "frozen-embeddings"):
        assert any("cross_attn" in k for k in changed) and not any(".mlp." in k for k in grads)
    embeddings = {k for k in grads if k.startswith(("decoder.embed_tokens.", "lm_head."))}
    assert bool(embeddings) == (policy != "frozen-embeddings")
    if policy == "decoder-lm":
        assert not any("cross" in k or k.startswith("encoder.") for k in grads)


def test_unknown_policy_and_preset(tok):
    model, _ = _model("micro-bart-xs", tok)
    with pytest.raises(FlorenzError, match="unknown freezing policy 'x'.*default"):
        apply_freezing(model, "x")
    with pytest.raises(FlorenzError, match="unknown model preset 'F-2B'.*micro-gemma-s"):
        get_preset("F-2B")
    with pytest.raises(FlorenzError, match="needs a tokenizer"):
        build_model(ModelConfig(preset="micro-bart-s"))


@pytest.mark.parametrize("name", ["micro-bart-xs", "micro-gemma-xs"])
def test_save_load_round_trip(name, tok, tmp_path):
    model, proc = _model(name, tok, seed=3)
    apply_freezing(model, "none")
    save_model(model, proc, tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} >= {"model.safetensors", "config.json", "tokenizer.json"}
    loaded, proc2 = load_model(tmp_path / "m")
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.lm_head.weight is loaded.decoder.embed_tokens.weight
    assert loaded.config.description() == model.config.description() and proc2.image_size == proc.image_size
    batch = _batch(proc)
    model.eval()
    assert torch.equal(model(**batch).logits, loaded(**batch).logits)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text((tmp_path / "m" / "config.json").read_text())
    from safetensors.torch import save_file

    state = {k: v for k, v in a.items() if k != "lm_head.weight" and not k.startswith("encoder.layers.0.fc1")}
    save_file(state, str(tmp_path / "bad" / "model.safetensors"))
    with pytest.raises(FlorenzError, match="missing weights: encoder.layers.0.fc1"):
        load_model(tmp_path / "bad")


@pytest.mark.parametrize("name", ["micro-bart-xs", "micro-gemma-xs"])
@pytest.mark.parametrize("beams", [1, 3])
def test_cached_generation_matches_uncached(name, beams, tok):
    model, proc = _model(name, tok, seed=1)
    b = _batch(proc)
    args = (model, proc, b["pixel_values"], b["input_ids"], b["attention_mask"], ["caption", "translation", "caption"],
            LANGS)
    kw = dict(prefix=True, num_beams=beams, max_new_tokens=10, return_scores=True)
    cached, s1 = generate_texts(*args, use_cache=True, **kw)
    plain, s2 = generate_texts(*args, use_cache=False, **kw)
    assert cached == plain and len(cached) == 3
    assert s1 == pytest.approx(s2, abs=1e-4)
    free = generate_texts(*args, prefix=False, num_beams=beams, max_new_tokens=6)
    assert len(free) == 3 and all(isinstance(t, str) for t in free)


def test_prefix_forced_and_stripped_for_captions_only(tok):
    from florenz.models.prefix import decoder_prompt, finish_text

    model, proc = _model("micro-gemma-xs", tok, seed=2)
    bos = tok.bos_token_id
    assert decoder_prompt(proc, "caption", "fr", True) == [bos, *proc.prefix_ids("fr")]
    assert decoder_prompt(proc, "caption", "fr", False) == [bos]
    assert decoder_prompt(proc, "translation", "fr", True) == [bos]  # translation targets have no prefix
    said = tok("La photo montre une femme", add_special_tokens=False)["input_ids"]
    assert finish_text(proc, said, "caption", "fr") == "une femme"
    assert finish_text(proc, said, "translation", "fr").startswith("La photo montre")  # never stripped
    b = _batch(proc)
    texts = generate_texts(model, proc, b["pixel_values"], b["input_ids"], b["attention_mask"], "caption", LANGS,
                           num_beams=2, max_new_tokens=5)
    assert not any(t.startswith(("The image shows", "La photo montre", "Das Bild zeigt")) for t in texts)
    with pytest.raises(FlorenzError, match="exceeds the decoder's 256 positions"):
        generate_texts(model, proc, b["pixel_values"], b["input_ids"], b["attention_mask"], "caption", LANGS,
                       max_new_tokens=256)

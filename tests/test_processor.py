"""FlorenzProcessor as a transformers ProcessorMixin: save_pretrained / from_pretrained / AutoProcessor round
trips (micro and real-format tokenizers), Florence-2's preprocessing bit for bit, run directories read by the
Auto classes, and `attn_implementation` from `from_pretrained` reaching the vision tower, encoder and decoder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

import florenz
from florenz.data.shards import Sample
from florenz.data.tokenizer import train_tokenizer
from florenz.errors import FlorenzError
from florenz.io import write_json
from florenz.models.build import build
from florenz.models.checkpoint import PROCESSOR_CONFIG_FILE, convert, load_model, save_model
from florenz.models.config import ModelConfig
from florenz.models.prefix import generate_texts
from florenz.models.processor import IMAGENET_MEAN, IMAGENET_STD, FlorenzProcessor
from florenz.models.runtime import attention_parts
from florenz.prompts import all_prompt_texts, encoder_prompt

pytestmark = pytest.mark.usefixtures("one_thread")

LANGS = ["en", "fr", "de"]
TEXT = ["a dog runs on the grass", "une femme marche", "ein Hund läuft im Park", "the cat sits"] * 4
SAMPLES = [Sample("caption", "en", "a dog runs"), Sample("translation", "fr", "une femme", src="a woman"),
           Sample("caption", "de", "ein Hund läuft im Park")]


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXT + all_prompt_texts(LANGS), vocab_size=300)


def _images(n=3):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (50 + 7 * i, 90 - 5 * i, 3), dtype=np.uint8)) for i in range(n)]


def assert_same_processing(a: FlorenzProcessor, b: FlorenzProcessor) -> None:
    """Same encodings, prefixes, pixel values (both image paths), collate output and decoding."""
    assert type(b) is FlorenzProcessor and b.image_size == a.image_size
    for x, y in ((a.encoder_tokenizer, b.encoder_tokenizer), (a.decoder_tokenizer, b.decoder_tokenizer)):
        assert x.get_vocab() == y.get_vocab()
        assert (x.bos_token_id, x.eos_token_id, x.pad_token_id) == (y.bos_token_id, y.eos_token_id, y.pad_token_id)
    ca, cb = a.collate(_images(), SAMPLES, 48, 24), b.collate(_images(), SAMPLES, 48, 24)
    assert ca.keys() == cb.keys() and all(torch.equal(ca[k], cb[k]) for k in ca)
    arr = np.random.default_rng(1).integers(0, 256, (2, a.image_size, a.image_size, 3), dtype=np.uint8)
    assert torch.equal(a.pixel_values(arr), b.pixel_values(arr))
    assert all(a.prefix_ids(lang) == b.prefix_ids(lang) for lang in LANGS)
    ids = ca["decoder_input_ids"][0, 1:]
    assert a.decode(ids, "en") == b.decode(ids, "en") and a.decode(ids) == b.decode(ids)


def test_micro_processor_round_trips_through_save_pretrained_and_auto_processor(tok, tmp_path):
    proc = FlorenzProcessor.for_tokenizers(tok, tok, 64)
    proc.save_pretrained(str(tmp_path / "p"))  # a processor alone: no config.json next to it
    saved = json.loads((tmp_path / "p" / PROCESSOR_CONFIG_FILE).read_text())
    assert saved["processor_class"] == "FlorenzProcessor" and saved["image_processor"]["size"]["height"] == 64
    assert (tmp_path / "p" / "tokenizer.json").is_file() and (tmp_path / "p" / "encoder_tokenizer").is_dir()
    for loaded in (FlorenzProcessor.from_pretrained(str(tmp_path / "p")),
                   AutoProcessor.from_pretrained(str(tmp_path / "p"))):
        assert_same_processing(proc, loaded)
        assert loaded.encoder_tokenizer is not loaded.decoder_tokenizer  # two attributes, one vocabulary
    assert proc.decode(proc.collate(_images(1), SAMPLES[:1])["decoder_input_ids"][0, 1:], "en") == "a dog runs"


def test_pixel_values_are_florence_preprocessing_bit_for_bit(tok):
    """What the processor did before it held an image processor: PIL bicubic resize, /255, ImageNet mean/std."""
    proc = FlorenzProcessor.for_tokenizers(tok, tok, 64)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def reference(img):
        img = img.convert("RGB").resize((64, 64), Image.BICUBIC)
        return (torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1) - mean) / std

    images = _images() + [Image.new("L", (64, 64), 90)]
    assert torch.equal(proc.pixel_values(images), torch.stack([reference(i) for i in images]))
    arr = np.random.default_rng(2).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    fast = proc.pixel_values(arr)  # the vectorised path for uint8 batches at the model's size
    pil = [Image.fromarray(a) for a in arr]
    assert torch.equal(fast, proc.image_processor(pil, return_tensors="pt")["pixel_values"])
    assert torch.equal(fast, torch.stack([reference(Image.fromarray(a)) for a in arr]))
    assert proc.pixel_values([]).shape == (0, 3, 64, 64)
    call = proc(images=images[:2], text=[encoder_prompt("caption", "fr"), encoder_prompt("caption", "de")])
    prompts = proc.prompts([Sample("caption", "fr", "x"), Sample("caption", "de", "y")])
    assert torch.equal(call["pixel_values"], proc.pixel_values(images[:2]))
    assert torch.equal(call["input_ids"], prompts["input_ids"])
    with pytest.raises(FlorenzError, match="image_size must be positive"):
        FlorenzProcessor.for_tokenizers(tok, tok, 0)


@pytest.mark.parametrize("preset", ["F-0.4B", "F-3.5B"])
def test_real_presets_processor_and_attention_round_trip(preset, real_checkpoints, tmp_path):
    """Real-format tokenizers (BART encoder, Gemma-2 decoder: two different ones) through a model directory;
    sdpa reaches every part of the Florence (BART) kind, eager every part of the Gemma kind."""
    florence = real_checkpoints("florence-community/Florence-2-large")
    gemma = real_checkpoints("google/gemma-2-2b")
    model, proc = build(ModelConfig(preset=preset, florence_path=str(florence), gemma_path=str(gemma), image_size=64))
    assert len(proc.encoder_tokenizer) != len(proc.decoder_tokenizer)
    save_model(model, proc, tmp_path / "m")
    assert_same_processing(proc, AutoProcessor.from_pretrained(str(tmp_path / "m")))
    assert_same_processing(proc, load_model(tmp_path / "m")[1])
    impl = "sdpa" if model.config.decoder_kind == "bart" else "eager"
    loaded = AutoModelForImageTextToText.from_pretrained(str(tmp_path / "m"), attn_implementation=impl)
    assert {k: c._attn_implementation for k, c in attention_parts(loaded).items()} == dict.fromkeys(
        ("vision", "encoder", "decoder"), impl)


@pytest.mark.parametrize("name", ["micro-bart-xs", "micro-gemma-xs"])
def test_attn_implementation_from_pretrained_reaches_the_parts(name, tok, tmp_path):
    torch.manual_seed(0)
    model, proc = build(ModelConfig(preset=name), tok)
    default = {k: c._attn_implementation for k, c in attention_parts(model).items()}
    save_model(model, proc, tmp_path / "m")
    assert "_attn_requested" not in json.loads((tmp_path / "m" / "config.json").read_text())
    parts = ("vision", "encoder", "decoder")
    for impl in ("eager", "sdpa") if name.startswith("micro-bart") else ("eager",):
        loaded = AutoModelForImageTextToText.from_pretrained(str(tmp_path / "m"), attn_implementation=impl)
        assert {k: c._attn_implementation for k, c in attention_parts(loaded).items()} == dict.fromkeys(parts, impl)
        assert loaded.config._attn_implementation == impl
    plain = AutoModelForImageTextToText.from_pretrained(str(tmp_path / "m"))  # nothing asked: transformers' choice
    assert {k: c._attn_implementation for k, c in attention_parts(plain).items()} == default
    if name.startswith("micro-gemma"):
        assert default["decoder"] == "eager"
        with pytest.raises(FlorenzError, match="soft-cap"):
            AutoModelForImageTextToText.from_pretrained(str(tmp_path / "m"), attn_implementation="sdpa")
        plain.set_attn_implementation("eager")
        assert {k: c._attn_implementation for k, c in attention_parts(plain).items()} == dict.fromkeys(parts, "eager")


def test_run_model_dir_loads_with_auto_classes_and_generates_like_florenz_load(tok, tmp_path):
    torch.manual_seed(4)
    model, proc = build(ModelConfig(preset="micro-gemma-xs"), tok)
    save_model(model.eval(), proc, tmp_path / "run" / "model")  # what a run writes (train/setup.py, export.py)
    fl = florenz.load(str(tmp_path / "run"), device="cpu")
    auto_model = AutoModelForImageTextToText.from_pretrained(str(tmp_path / "run" / "model")).eval()
    auto_proc = AutoProcessor.from_pretrained(str(tmp_path / "run" / "model"))
    samples = [Sample("caption", "fr", ""), Sample("translation", "de", "", src="a dog runs")]
    outs = []
    for m, p in ((fl.model, fl.processor), (auto_model, auto_proc)):
        batch = {"pixel_values": p.pixel_values(_images(2)), **p.prompts(samples)}
        with torch.no_grad():
            outs.append(m.generate(**batch, num_beams=2, max_new_tokens=6, do_sample=False))
        texts = generate_texts(m, p, batch["pixel_values"], batch["input_ids"], batch["attention_mask"],
                               ["caption", "translation"], ["fr", "de"], num_beams=2, max_new_tokens=6)
        outs.append(texts)
    assert torch.equal(outs[0], outs[2]) and outs[1] == outs[3]
    assert fl.caption(_images(2), lang="fr", beams=2, max_new_tokens=6)[0] == generate_texts(
        auto_model, auto_proc, auto_proc.pixel_values(_images(2)), **auto_proc.prompts(
            [Sample("caption", "fr", "")] * 2), tasks="caption", langs="fr", num_beams=2, max_new_tokens=6)[0]


def test_model_dir_from_before_the_processor_mixin_loads_and_converts(tok, tmp_path):
    """config.json + tokenizer files + florenz_processor.json (what main wrote before): load, then convert."""
    torch.manual_seed(5)
    model, proc = build(ModelConfig(preset="micro-bart-xs"), tok)
    old = save_model(model, proc, tmp_path / "old")
    (old / PROCESSOR_CONFIG_FILE).unlink()
    for f in (old / "encoder_tokenizer").iterdir():
        f.unlink()
    (old / "encoder_tokenizer").rmdir()
    write_json(old / "florenz_processor.json", {"image_size": 64, "shared_tokenizer": True})
    assert_same_processing(proc, load_model(old)[1])
    convert(old, tmp_path / "new")
    assert (tmp_path / "new" / PROCESSOR_CONFIG_FILE).is_file()
    assert_same_processing(proc, AutoProcessor.from_pretrained(str(tmp_path / "new")))
    with pytest.raises(FlorenzError, match="not an old-layout"):
        convert(tmp_path / "new", tmp_path / "again")

"""F-0.4B at its true architecture, saved in transformers' format, for the loading and step benchmarks.

Florence-2-base's architecture (DaViT 128..1024, BART 768 x 6 + 6, 51,289-token embedding) with random
weights is written with `Florence2ForConditionalGeneration.save_pretrained`, as the hub's checkpoint is;
beside it a Florence-style byte-level BPE and a Gemma-2-sized tokenizer directory (256,000 tokens: Gemma's
special ids and 256 byte tokens, the rest synthetic "▁..." pieces; no SentencePiece model is needed).
Nothing is downloaded; the weights are random, so only sizes and times mean anything.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GEMMA_VOCAB = 256_000


def _texts(n: int = 2000) -> list[str]:
    out = []
    for lang in ("en", "de", "fr"):
        with gzip.open(SHARED_DATA / "multi30k" / "task1" / "raw" / f"train.{lang}.gz", "rt", encoding="utf-8") as f:
            out += [line.strip() for _, line in zip(range(n), f, strict=False)]
    return out


def bart_tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    special = ["<s>", "<pad>", "</s>", "<unk>"]
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=8000, special_tokens=special,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                       show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>")


def gemma_tokenizer(size: int = GEMMA_VOCAB):
    """A 256k Metaspace BPE with byte fallback: Gemma's ids (pad 0, eos 1, bos 2, unk 3) and size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"])}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for ch in letters + letters.upper() + "▁":
        vocab.setdefault(ch, len(vocab))
    i = 0
    while len(vocab) < size:  # "▁" + base-26 words: realistic lengths for the BART re-tokenisation
        n, word = i, ""
        while True:
            word = letters[n % 26] + word
            n //= 26
            if n == 0:
                break
        vocab.setdefault("▁" + word, len(vocab))
        i += 1
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace()])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                   unk_token="<unk>", mask_token="<mask>")


def write_f04b(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """(Florence-2-base dir, Gemma-2 tokenizer dir) under `root`, laid out as florence-community/Florence-2-base
    and google/gemma-2-2b are (the BART kind reads only the tokenizer from the latter)."""
    from transformers import BartConfig, Florence2Config, Florence2ForConditionalGeneration, Florence2VisionConfig

    from florenz.models.build import parameters_on_meta
    from florenz.models.presets import BART_VOCAB, get_preset

    preset = get_preset("F-0.4B")
    florence, gemma = root / "florence-community" / "Florence-2-base", root / "google" / "gemma-2-2b"
    torch.manual_seed(seed)
    vision = Florence2VisionConfig(**preset.vision)
    text = BartConfig(**preset.text, vocab_size=BART_VOCAB, bos_token_id=0, pad_token_id=1, eos_token_id=2)
    with parameters_on_meta():  # skip the random init's cost: the weights are drawn once below
        model = Florence2ForConditionalGeneration(Florence2Config(vision_config=vision, text_config=text))
    real: dict[int, torch.nn.Parameter] = {}  # tied parameters stay one parameter
    with torch.no_grad():
        for module in model.modules():
            for name, p in list(module._parameters.items()):
                if p is not None:
                    if id(p) not in real:
                        real[id(p)] = torch.nn.Parameter(torch.empty(p.shape).normal_(0.0, 0.02))
                    module._parameters[name] = real[id(p)]
    model.save_pretrained(florence)
    del model
    bart_tokenizer(_texts()).save_pretrained(florence)
    gemma_tokenizer().save_pretrained(gemma)
    return florence, gemma

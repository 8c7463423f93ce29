"""Tiny checkpoints in the real formats, laid out like the hub repositories a user downloads.

    ROOT/florence-community/Florence-2-base/   config.json, model.safetensors, generation_config.json,
    ROOT/florence-community/Florence-2-large/  tokenizer files (Florence2ForConditionalGeneration.save_pretrained)
    ROOT/google/gemma-2-2b/   config.json, model-0000k-of-0000n.safetensors + model.safetensors.index.json,
    ROOT/google/gemma-2-9b/   tokenizer files (Gemma2ForCausalLM.save_pretrained, sharded like the hub)

florence-community/* are transformers' native conversions of microsoft/Florence-2-*, whose own weights need
remote code; ROOT is what `model.hub_dir` points at.
The tokenizers are of the real kinds: a byte-level BPE with BART's special ids (<s> 0, <pad> 1, </s> 2,
<unk> 3) for Florence-2 and a Metaspace BPE with byte fallback and Gemma's ids (<pad> 0, <eos> 1, <bos> 2,
<unk> 3). The encoder vocabulary is smaller than the decoder's, so a tokenizer mix-up fails loudly.
"""

from __future__ import annotations

import gzip
from functools import cache
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    BartConfig,
    Florence2Config,
    Florence2ForConditionalGeneration,
    Florence2VisionConfig,
    Gemma2Config,
    Gemma2ForCausalLM,
    PreTrainedTokenizerFast,
)

BART_VOCAB = 360  # encoder (Florence-2 / BART) < decoder (Gemma-2): mixing them up indexes out of range
GEMMA_VOCAB = 720
REPOS = ("florence-community/Florence-2-base", "florence-community/Florence-2-large", "google/gemma-2-2b",
         "google/gemma-2-9b")
_SIZES = {  # tiny stand-ins; "large" a little wider than "base", "9b" deeper than "2b"
    "florence-community/Florence-2-base": dict(d=32, dims=(16, 32)),
    "florence-community/Florence-2-large": dict(d=48, dims=(16, 48)),
    "google/gemma-2-2b": dict(hidden=48, layers=2),
    "google/gemma-2-9b": dict(hidden=64, layers=3),
}


def texts(shared_data: Path, n: int = 400) -> list[str]:
    """Real multilingual text (Multi30K en/de/fr/cs) to train the tokenizers on."""
    out = []
    for lang in ("en", "de", "fr", "cs"):
        with gzip.open(shared_data / "multi30k" / "task1" / "raw" / f"val.{lang}.gz", "rt", encoding="utf-8") as f:
            out += [line.strip() for _, line in zip(range(n), f, strict=False)]
    return out


def bart_tokenizer(corpus: list[str], vocab_size: int = BART_VOCAB) -> PreTrainedTokenizerFast:
    """Byte-level BPE like BART's (ids: <s> 0, <pad> 1, </s> 2, <unk> 3, <mask> last)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size - 1,
                                                        special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                        show_progress=False))
    tok.add_special_tokens(["<mask>"])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", mask_token="<mask>")


def gemma_tokenizer(corpus: list[str], vocab_size: int = GEMMA_VOCAB) -> PreTrainedTokenizerFast:
    """Metaspace ("▁") BPE with byte fallback like Gemma-2's (ids: <pad> 0, <eos> 1, <bos> 2, <unk> 3)."""
    special = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    byte_tokens = [f"<0x{i:02X}>" for i in range(256)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace()])
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special + byte_tokens,
                                                        show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                   unk_token="<unk>", mask_token="<mask>")


def write_florence(out: Path, tok: PreTrainedTokenizerFast, d: int, dims: tuple[int, int], seed: int = 0) -> Path:
    """A two-stage DaViT (64 px -> 4 x 4 patches) + one-layer BART, saved as Florence-2 checkpoints are."""
    torch.manual_seed(seed)
    vision = Florence2VisionConfig(depths=[1, 1], patch_size=[11, 3], patch_stride=[8, 2], patch_padding=[3, 1],
                                   patch_prenorm=[False, True], embed_dim=list(dims), num_heads=[1, 2],
                                   num_groups=[1, 2], window_size=4, projection_dim=d, drop_path_rate=0.0,
                                   max_position_embeddings=16)
    text = BartConfig(vocab_size=len(tok), d_model=d, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                      decoder_attention_heads=2, encoder_ffn_dim=2 * d, decoder_ffn_dim=2 * d,
                      max_position_embeddings=128, dropout=0.0, bos_token_id=0, pad_token_id=1, eos_token_id=2)
    model = Florence2ForConditionalGeneration(Florence2Config(vision_config=vision, text_config=text))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def write_gemma(out: Path, tok: PreTrainedTokenizerFast, hidden: int, layers: int, seed: int = 0) -> Path:
    """A Gemma-2 LM saved in shards with an index, as google/gemma-2-* are."""
    torch.manual_seed(seed)
    cfg = Gemma2Config(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
                       max_position_embeddings=256, pad_token_id=0, eos_token_id=1, bos_token_id=2)
    model = Gemma2ForCausalLM(cfg)
    with torch.no_grad():  # non-zero norms so that "norm_x = copy of post-attention norm" is visible
        for layer in model.model.layers:
            layer.post_attention_layernorm.weight.normal_()
    model.save_pretrained(out, max_shard_size="100KB")
    tok.save_pretrained(out)
    return out


# Native name -> the name Microsoft's remote code gives the same tensor, written out independently of
# florenz.models.florence2_original (which maps the other way), so the test checks one against the other.
_TO_MICROSOFT = (
    (r"^model\.vision_tower\.convs\.(\d+)\.conv\.", r"vision_tower.convs.\1.proj."),
    (r"^model\.vision_tower\.", "vision_tower."),
    (r"\.(spatial_block|channel_block)\.(conv1|conv2)\.", r".\1.\2.fn.dw."),
    (r"\.spatial_block\.norm1\.", ".spatial_block.window_attn.norm."),
    (r"\.channel_block\.norm1\.", ".channel_block.channel_attn.norm."),
    (r"\.(window_attn|channel_attn)\.(qkv|proj)\.", r".\1.fn.\2."),
    (r"\.norm2\.", ".ffn.norm."),
    (r"\.ffn\.(fc1|fc2)\.", r".ffn.fn.net.\1."),
    (r"^model\.multi_modal_projector\.image_projection\.weight$", "image_projection"),
    (r"^model\.multi_modal_projector\.image_position_embed\.", "image_pos_embed."),
    (r"^model\.multi_modal_projector\.", ""),
    (r"^model\.language_model\.", "language_model.model."),
)


def write_microsoft_florence(native: Path, out: Path) -> Path:
    """`native` re-written the way microsoft/Florence-2-* are published: remote-code config.json (DaViT's
    `dim_embed`, nested temporal/position settings, `auto_map`), `pytorch_model.bin` with that code's names
    (incl. the tied copies of the shared embedding) and a bare (in, out) `image_projection`."""
    import json
    import re
    import shutil

    from safetensors.torch import load_file

    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for name, tensor in load_file(str(native / "model.safetensors")).items():
        for pattern, repl in _TO_MICROSOFT:
            name = re.sub(pattern, repl, name)
        state[name] = tensor.t().contiguous() if name == "image_projection" else tensor
    shared = state["language_model.model.shared.weight"]
    for tied in ("language_model.model.encoder.embed_tokens.weight", "language_model.model.decoder.embed_tokens.weight",
                 "language_model.lm_head.weight"):
        state[tied] = shared
    torch.save(state, out / "pytorch_model.bin")
    config = json.loads((native / "config.json").read_text())
    vision = config["vision_config"]
    vision["dim_embed"] = vision.pop("embed_dim")
    temporal = vision.pop("max_temporal_embeddings")
    vision["visual_temporal_embedding"] = {"type": "COSINE", "max_temporal_embeddings": temporal}
    vision["image_pos_embed"] = {"type": "learned_abs_2d", "max_pos_embeddings": vision.pop("max_position_embeddings")}
    vision["model_type"] = "davit"
    config.update(model_type="florence2", projection_dim=vision["projection_dim"],
                  auto_map={"AutoConfig": "configuration_florence2.Florence2Config",
                            "AutoModelForCausalLM": "modeling_florence2.Florence2ForConditionalGeneration"})
    (out / "config.json").write_text(json.dumps(config, indent=2))
    for file in native.iterdir():
        if file.name.startswith(("tokenizer", "special_tokens", "vocab", "merges")):
            shutil.copy(file, out / file.name)
    return out


class RealCheckpoints:
    """The four hub-shaped directories under `root`, each written on first use."""

    def __init__(self, root: Path, shared_data: Path) -> None:
        self.root, self.shared_data = root, shared_data

    @cache  # noqa: B019 - one instance per test session
    def tokenizers(self) -> tuple[PreTrainedTokenizerFast, PreTrainedTokenizerFast]:
        corpus = texts(self.shared_data)
        return bart_tokenizer(corpus), gemma_tokenizer(corpus)

    def __call__(self, repo: str) -> Path:
        out = self.root / repo
        if not (out / "config.json").is_file():
            bart, gemma = self.tokenizers()
            if repo.startswith("florence-community/"):
                write_florence(out, bart, **_SIZES[repo])
            else:
                write_gemma(out, gemma, **_SIZES[repo])
        return out

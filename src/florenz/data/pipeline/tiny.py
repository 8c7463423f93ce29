"""Tiny random-init backends built from transformers configs, saved to local directories.

Why: the pipeline must be exercised end to end offline (tests, smoke runs of a new install)
without downloading a describer, a translator or a CLIP. They write garbage text, in the right shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch

from florenz.data.pipeline.backends import NLLB_CODES
from florenz.data.tokenizer import train_tokenizer

IMAGE_SIZE = 32


def _tokenizer(texts: Iterable[str], vocab_size: int, extra_special: list[str] | None = None):
    tok = train_tokenizer(list(texts), vocab_size=vocab_size)
    if extra_special:
        tok.add_tokens(extra_special, special_tokens=True)
    return tok


def build_tiny_describer(out: str | Path, texts: Iterable[str], seed: int = 0, vocab_size: int = 300) -> Path:
    """ViT encoder + BERT decoder (VisionEncoderDecoderModel), ViT image processor, BPE tokenizer."""
    from transformers import BertConfig, VisionEncoderDecoderConfig, ViTConfig
    from transformers import VisionEncoderDecoderModel as VED
    from transformers import ViTImageProcessorPil as ViTImageProcessor

    out = Path(out)
    tok = _tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    enc = ViTConfig(image_size=IMAGE_SIZE, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=64)
    dec = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, is_decoder=True, add_cross_attention=True,
                     pad_token_id=0, bos_token_id=1, eos_token_id=2)
    cfg = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    cfg.decoder_start_token_id, cfg.pad_token_id, cfg.eos_token_id = 1, 0, 2
    model = VED(config=cfg)
    model.generation_config.decoder_start_token_id = 1
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = 0, 2
    model.save_pretrained(out)
    ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_tiny_translator(out: str | Path, texts: Iterable[str], langs: list[str], seed: int = 0,
                          vocab_size: int = 400) -> Path:
    """An M2M100/NLLB-style seq2seq model whose tokenizer holds NLLB language codes (forced BOS)."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    out = Path(out)
    tok = _tokenizer(texts, vocab_size, [NLLB_CODES[lang] for lang in langs])
    torch.manual_seed(seed)
    cfg = M2M100Config(vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1,
                       encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                       max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                       decoder_start_token_id=2, scale_embedding=True)
    model = M2M100ForConditionalGeneration(cfg)
    model.generation_config.decoder_start_token_id = 2
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = 0, 2
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_tiny_clip(out: str | Path, texts: Iterable[str], seed: int = 0, vocab_size: int = 300) -> Path:
    """A CLIPModel with a 32-pixel ViT and a one-layer text tower."""
    from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPVisionConfig
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor

    out = Path(out)
    tok = _tokenizer(texts, vocab_size)
    torch.manual_seed(seed)
    text = CLIPTextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, max_position_embeddings=64, pad_token_id=0, bos_token_id=1,
                          eos_token_id=2)
    vision = CLIPVisionConfig(image_size=IMAGE_SIZE, patch_size=8, hidden_size=32, intermediate_size=64,
                              num_hidden_layers=1, num_attention_heads=2)
    model = CLIPModel(CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16))
    model.save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                       crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(out)
    tok.save_pretrained(out)
    return out

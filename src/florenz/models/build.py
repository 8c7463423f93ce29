"""Build a FlorenzModel (and its Processor) from the `[model]` config section.

Micro presets: random init, vocabulary from the (data's) tokenizer, one tokenizer for encoder and decoder.
Real presets: with `florence_path` (and `gemma_path` for the Gemma kind) the local checkpoints are loaded
(pretrained.py); without them the preset is built with random weights (e.g. on "meta" for counting).
"""

from __future__ import annotations

import torch

from florenz.errors import FlorenzError
from florenz.models.config import ModelConfig
from florenz.models.florenz import FlorenzConfig, FlorenzModel
from florenz.models.presets import BART_VOCAB, GEMMA_VOCAB, get_preset

# Defaults for real presets built without tokenizers (meta-device counting): Gemma-2 and BART special ids.
GEMMA_IDS = {"pad": 0, "eos": 1, "bos": 2}
BART_IDS = {"bos": 0, "pad": 1, "eos": 2}


def special_ids(tokenizer) -> dict:
    """{"bos", "eos", "pad"} of a transformers tokenizer; a missing one is an error naming it."""
    ids = {k: getattr(tokenizer, f"{k}_token_id", None) for k in ("bos", "eos", "pad")}
    missing = [k for k, v in ids.items() if v is None]
    if missing:
        raise FlorenzError(f"tokenizer has no {', '.join(missing)} token (needed by the model)")
    return ids


def model_config(cfg: ModelConfig, tokenizer=None, encoder_tokenizer=None) -> FlorenzConfig:
    """The model description for a preset: vocabularies and special ids from the tokenizers when given."""
    preset = get_preset(cfg.preset)
    enc_tok = encoder_tokenizer if encoder_tokenizer is not None else (tokenizer if preset.micro else None)
    if preset.micro and tokenizer is None:
        raise FlorenzError(f"micro preset {preset.name!r} needs a tokenizer (its vocabulary comes from the data)")
    dec_vocab = len(tokenizer) if tokenizer is not None else (preset.decoder_vocab_size or GEMMA_VOCAB)
    enc_vocab = len(enc_tok) if enc_tok is not None else (preset.encoder_vocab_size or BART_VOCAB)
    dec_ids = special_ids(tokenizer) if tokenizer is not None else GEMMA_IDS
    enc_ids = special_ids(enc_tok) if enc_tok is not None else BART_IDS
    return FlorenzConfig.from_preset(preset, dec_vocab, enc_vocab, dec_ids, enc_ids, cfg.image_size)


def build_from_config(config: dict, device: str | torch.device = "cpu") -> FlorenzModel:
    """Instantiate a model for a config dict; on "meta" nothing is allocated."""
    with torch.device(device):
        model = FlorenzModel(config)
    return model


def build_model(cfg: ModelConfig, tokenizer=None, device: str | torch.device = "cpu",
                encoder_tokenizer=None) -> FlorenzModel:
    """The model for `cfg`: micro presets random-init from the tokenizer; real presets load local weights
    when `florence_path` is set (tokenizers then come from the checkpoint directories)."""
    preset = get_preset(cfg.preset)
    if cfg.florence_path and not preset.micro:
        from florenz.models.pretrained import load_pretrained

        return load_pretrained(cfg, decoder_tokenizer=tokenizer, device=device)[0]
    if cfg.gemma_path and not cfg.florence_path:
        raise FlorenzError(f"model.gemma_path is set but model.florence_path is empty (preset {cfg.preset})")
    return build_from_config(model_config(cfg, tokenizer, encoder_tokenizer), device)


def build_processor(cfg: ModelConfig, model: FlorenzModel, tokenizer=None, encoder_tokenizer=None):
    """The processor matching a built model (same tokenizers, the model's image size)."""
    from florenz.models.processor import Processor

    if tokenizer is None:
        raise FlorenzError(f"a processor for preset {cfg.preset!r} needs the decoder tokenizer")
    return Processor(encoder_tokenizer or tokenizer, tokenizer, int(model.config.image_size))

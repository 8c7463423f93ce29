"""The one builder: a FlorenzModel *and* its FlorenzProcessor from the `[model]` config section.

Micro presets: random init, vocabulary from the data's tokenizer (or `model.tokenizer_path`), one tokenizer
for encoder and decoder. Real presets: weights and tokenizers come from the local checkpoints only
(pretrained.py): the encoder tokenizer from `florence_path`, the decoder tokenizer from `tokenizer_path` or
`gemma_path`; a data set's own tokenizer is never used for them. `build_model` without checkpoint paths
gives a real preset's architecture with random weights (e.g. on "meta" for counting); it has no processor.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from florenz.errors import FlorenzError
from florenz.models.config import ModelConfig
from florenz.models.florenz import FlorenzConfig, FlorenzModel
from florenz.models.instantiate import build_empty, build_from_config, parameters_on_meta, special_ids  # noqa: F401
from florenz.models.presets import BART_VOCAB, GEMMA_VOCAB, get_preset

# Defaults for real presets built without tokenizers (meta-device counting): Gemma-2 and BART special ids.
GEMMA_IDS = {"pad": 0, "eos": 1, "bos": 2}
BART_IDS = {"bos": 0, "pad": 1, "eos": 2}


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


def checkpoint_paths(cfg: ModelConfig) -> ModelConfig:
    """`cfg` with florence_path / gemma_path filled from `hub_dir` and the preset's hub repositories."""
    preset = get_preset(cfg.preset)
    if not cfg.hub_dir or preset.micro:
        return cfg
    hub = Path(cfg.hub_dir)
    if not hub.is_dir():
        raise FlorenzError(f"model.hub_dir not found: {hub}")
    florence, gemma = preset.checkpoints
    microsoft = hub / "microsoft" / Path(florence).name  # the original release, read as well (florence2_original)
    florence_dir = microsoft if not (hub / florence).exists() and microsoft.exists() else hub / florence
    return dataclasses.replace(cfg, florence_path=cfg.florence_path or str(florence_dir),
                               gemma_path=cfg.gemma_path or str(hub / gemma))


def build_model(cfg: ModelConfig, tokenizer=None, device: str | torch.device = "cpu",
                encoder_tokenizer=None) -> FlorenzModel:
    """The model alone: micro presets random-init from the tokenizer; real presets load local weights when
    `florence_path` is set, else their architecture with random weights (counting, benchmarks)."""
    preset, cfg = get_preset(cfg.preset), checkpoint_paths(cfg)
    if cfg.florence_path and not preset.micro:
        return build(cfg, device=device)[0]
    if cfg.gemma_path and not cfg.florence_path:
        raise FlorenzError(f"model.gemma_path is set but model.florence_path is empty (preset {cfg.preset})")
    return build_from_config(model_config(cfg, tokenizer, encoder_tokenizer), device)


def build(cfg: ModelConfig, tokenizer=None, device: str | torch.device = "cpu"):
    """(model, processor) for every preset. `tokenizer` is the data's tokenizer: micro presets use it (unless
    `model.tokenizer_path` is set); real presets ignore it and read theirs from the checkpoint directories."""
    from florenz.models.processor import FlorenzProcessor

    preset, cfg = get_preset(cfg.preset), checkpoint_paths(cfg)
    if not preset.micro:
        if not cfg.florence_path:
            raise FlorenzError(f"preset {preset.name} needs model.hub_dir or model.florence_path (a local Florence-2 "
                               f"checkpoint such as {preset.checkpoints[0]}; its tokenizer is the encoder's)")
        from florenz.models.pretrained import load_pretrained

        return load_pretrained(cfg, device=device)
    if cfg.tokenizer_path:
        from florenz.data.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(cfg.tokenizer_path)
    if tokenizer is None:
        raise FlorenzError(f"micro preset {preset.name!r} needs a tokenizer (the data's tokenizer.json or "
                           "model.tokenizer_path)")
    model = build_from_config(model_config(cfg, tokenizer), device)
    return model, FlorenzProcessor.for_tokenizers(tokenizer, tokenizer, int(model.config.image_size))

"""Real weights: a Florenz model from a local Florence-2 checkpoint (+ a Gemma-2 one), transformers' format.

Florence-2 gives the vision tower, projection and text encoder (and, for the BART kind, the decoder
layers); its BART embedding is remapped to the Gemma-2 vocabulary for the decoder (vocab_remap.py).
Gemma-2 gives the decoder of the Gemma kind; the new cross-attention blocks are initialised (g = 0,
norm_x = post-attention norm). The architecture is read from the checkpoints' config.json files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from florenz.errors import FlorenzError
from florenz.models.build import build_from_config, special_ids
from florenz.models.checkpoint import load_state
from florenz.models.config import ModelConfig
from florenz.models.cross_attention import CROSS_PARAM_MARKERS
from florenz.models.florenz import FlorenzConfig
from florenz.models.presets import get_preset
from florenz.models.vocab_remap import remap_embedding

FLORENCE_PREFIXES = {  # transformers' Florence2ForConditionalGeneration -> ours
    "model.vision_tower.": "vision_tower.",
    "model.multi_modal_projector.": "projector.",
    "model.language_model.encoder.": "encoder.",
    "model.language_model.decoder.": "decoder.",
}
SHARED = "model.language_model.shared.weight"


def read_safetensors_dir(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a transformers checkpoint dir (single file or sharded with an index)."""
    single = path / "model.safetensors"
    if single.is_file():
        return load_file(str(single))
    index = path / "model.safetensors.index.json"
    if not index.is_file():
        raise FlorenzError(f"no model.safetensors(.index.json) in checkpoint directory {path}")
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
        state.update(load_file(str(path / shard)))
    return state


def _config(path: Path) -> dict:
    file = path / "config.json"
    if not file.is_file():
        raise FlorenzError(f"checkpoint config not found: {file}")
    return json.loads(file.read_text())


def _pick(source: dict, like: dict) -> dict:
    """Architecture fields of a checkpoint config, restricted to the keys our presets define."""
    return {k: source[k] for k in like if k in source}


def _tokenizer(path: Path, what: str):
    from florenz.data.tokenizer import load_tokenizer

    if not path.exists():
        raise FlorenzError(f"{what} tokenizer not found: {path}")
    return load_tokenizer(path)


def load_pretrained(cfg: ModelConfig, decoder_tokenizer=None, device: str | torch.device = "cpu"):
    """(model, processor) for a real preset from `cfg.florence_path` (+ `cfg.gemma_path`)."""
    from florenz.models.processor import Processor

    preset = get_preset(cfg.preset)
    fdir = Path(cfg.florence_path)
    if preset.decoder_kind == "gemma" and not cfg.gemma_path:
        raise FlorenzError(f"preset {preset.name} needs model.gemma_path (a local Gemma-2 checkpoint)")
    gdir = Path(cfg.gemma_path) if preset.decoder_kind == "gemma" else None
    fconf = _config(fdir)
    enc_tok = _tokenizer(fdir, "Florence-2 (BART)")
    if decoder_tokenizer is None:
        tok_path = cfg.tokenizer_path or (str(gdir) if gdir else "")
        if not tok_path:
            raise FlorenzError(f"preset {preset.name} needs model.tokenizer_path (the Gemma-2 tokenizer directory)")
        decoder_tokenizer = _tokenizer(Path(tok_path), "Gemma-2")
    text = _pick(fconf.get("text_config", {}), preset.text)
    enc_vocab = fconf.get("text_config", {}).get("vocab_size", preset.encoder_vocab_size)
    config = FlorenzConfig.from_preset(preset, len(decoder_tokenizer), enc_vocab, special_ids(decoder_tokenizer),
                                       special_ids(enc_tok), cfg.image_size)
    vision = _pick(fconf.get("vision_config", {}), preset.vision)
    config.update(vision=vision or config.vision, text=text or config.text)
    if gdir is not None:
        config["decoder"] = _pick(_config(gdir), preset.gemma) or config.decoder
    else:
        config["decoder"] = dict(config.text)
    model = build_from_config(config, device)

    florence = read_safetensors_dir(fdir)
    state: dict[str, torch.Tensor] = {}
    for key, value in florence.items():
        for src, dst in FLORENCE_PREFIXES.items():
            if key.startswith(src) and not (gdir is not None and dst == "decoder."):
                state[dst + key[len(src):]] = value
    shared = florence.get(SHARED, state.get("encoder.embed_tokens.weight"))
    if shared is None:
        raise FlorenzError(f"{fdir}: missing weights: {SHARED} (the BART embedding)")
    state.setdefault("encoder.embed_tokens.weight", shared)
    if gdir is None:
        state["decoder.embed_tokens.weight"] = remap_embedding(shared, decoder_tokenizer, enc_tok)
    else:
        for key, value in read_safetensors_dir(gdir).items():
            if key.startswith("model."):
                state["decoder." + key[len("model."):]] = value
    source = f"{fdir}" + (f" + {gdir}" if gdir else "")
    load_state(model, state, source, allow_missing=CROSS_PARAM_MARKERS if gdir else ())
    if gdir is not None:
        model.decoder.reset_cross_blocks()
    return model, Processor(enc_tok, decoder_tokenizer, int(model.config.image_size))

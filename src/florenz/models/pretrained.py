"""Real weights: (model, processor) from a local Florence-2 checkpoint (+ a Gemma-2 one), transformers' format.

Florence-2 gives the vision tower, projection and text encoder (and, for the BART kind, the decoder
layers); its BART embedding is remapped to the Gemma-2 vocabulary for the decoder (vocab_remap.py).
Gemma-2 gives the decoder of the Gemma kind; the new cross-attention blocks are initialised (g = 0,
norm_x = post-attention norm). The architecture is read from the checkpoints' config.json files.

Tokenizers come from the checkpoint directories only: the encoder's from `florence_path`, the decoder's
(Gemma-2) from `tokenizer_path`, else `gemma_path`. Their sizes and special ids are checked against the
embeddings and configs before any weight is read. The model is built with its parameters on "meta" and
the checkpoint tensors are assigned in place, so loading holds about one copy of the weights.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn

from florenz.errors import FlorenzError
from florenz.models import florence2_original as original
from florenz.models.checkpoint import load_state
from florenz.models.config import ModelConfig
from florenz.models.cross_attention import CROSS_PARAM_MARKERS
from florenz.models.florenz import FlorenzConfig, FlorenzModel
from florenz.models.instantiate import build_empty, special_ids
from florenz.models.presets import get_preset
from florenz.models.vocab_remap import remap_embedding

FLORENCE_PREFIXES = {  # transformers' Florence2ForConditionalGeneration -> ours
    "model.vision_tower.": "vision_tower.",
    "model.multi_modal_projector.": "projector.",
    "model.language_model.encoder.": "encoder.",
    "model.language_model.decoder.": "decoder.",
}
SHARED = "model.language_model.shared.weight"
GEMMA_EMBED = "model.embed_tokens.weight"


class CheckpointDir:
    """A transformers checkpoint directory: config.json and weights (safetensors, one file or sharded; or
    `pytorch_model.bin`). Microsoft's remote-code Florence-2 layout is renamed to the native one on the fly
    (florence2_original.py), so `config`, `files`, `shape` and `tensors` always speak native names."""

    def __init__(self, path: str | Path, what: str) -> None:
        self.path, self.what = Path(path), what
        if not self.path.is_dir():
            raise FlorenzError(f"{what} checkpoint directory not found: {self.path}")
        file = self.path / "config.json"
        if not file.is_file():
            raise FlorenzError(f"checkpoint config not found: {file}")
        self.config = json.loads(file.read_text())
        files = _weight_files(self.path)
        self.original = original.is_original(self.config, files)
        self._source = {original.native_name(n) if self.original else n: n for n in files}
        self.files = {native: files[name] for native, name in self._source.items()}
        if self.original:
            self.config = original.native_config(self.config)

    def shape(self, name: str) -> tuple[int, ...] | None:
        if name not in self.files:
            return None
        source = self._source[name]
        shape = _shape(self.files[name], source)
        return shape[::-1] if self.original and source == original.TRANSPOSED else shape

    def weights_file(self, name: str) -> Path:
        return self.files.get(name, self.path / "model.safetensors")

    def tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Every tensor, one at a time (read from disk, or memory-mapped, as it is asked for)."""
        native = {name: n for n, name in self._source.items()}
        for file in sorted(set(self.files.values())):
            for name, tensor in _tensors(file):
                if self.original:
                    yield native[name], original.native_tensor(name, tensor)
                else:
                    yield name, tensor


def _tensors(file: Path) -> Iterator[tuple[str, torch.Tensor]]:
    if file.suffix == ".safetensors":
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118 - a safetensors handle, not a dict
                yield name, f.get_tensor(name)
    else:  # pytorch_model.bin: memory-mapped, so a tensor is read when it is used
        yield from torch.load(file, map_location="cpu", mmap=True, weights_only=True).items()


def _shape(file: Path, name: str) -> tuple[int, ...]:
    if file.suffix == ".safetensors":
        with safe_open(str(file), framework="pt") as f:
            return tuple(f.get_slice(name).get_shape())
    return tuple(torch.load(file, map_location="cpu", mmap=True, weights_only=True)[name].shape)


def _names(file: Path) -> list[str]:
    if file.suffix == ".safetensors":
        with safe_open(str(file), framework="pt") as f:
            return list(f.keys())
    return list(torch.load(file, map_location="cpu", mmap=True, weights_only=True))


def _weight_files(path: Path) -> dict[str, Path]:
    """Tensor name -> file: model.safetensors, a safetensors index, pytorch_model.bin or a .bin index."""
    for single in (path / "model.safetensors", path / "pytorch_model.bin"):
        if single.is_file():
            return dict.fromkeys(_names(single), single)
    for index in (path / "model.safetensors.index.json", path / "pytorch_model.bin.index.json"):
        if index.is_file():
            return {k: path / v for k, v in json.loads(index.read_text())["weight_map"].items()}
    raise FlorenzError(f"no model.safetensors, pytorch_model.bin or weight index in checkpoint directory {path}")


def read_safetensors_dir(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a transformers checkpoint dir (single file or sharded with an index)."""
    return dict(CheckpointDir(path, "transformers").tensors())


# Architecture fields read from a checkpoint besides those our presets set (sizes the presets leave at defaults).
EXTRA_FIELDS = {
    "vision": ("in_channels", "mlp_ratio", "qkv_bias", "max_temporal_embeddings", "max_position_embeddings"),
    "text": ("init_std",),
    "gemma": ("rms_norm_eps", "hidden_activation", "attention_bias", "rope_theta", "rope_parameters"),
}


def _pick(source: dict, like: dict, part: str) -> dict:
    """Architecture fields of a checkpoint config: the keys our presets define plus EXTRA_FIELDS[part]."""
    return {k: source[k] for k in (*like, *EXTRA_FIELDS[part]) if k in source}


def tokenizer_file(path: Path) -> Path:
    """The file a tokenizer was read from, for error messages (tokenizer.json when there is one)."""
    return path / "tokenizer.json" if (path / "tokenizer.json").is_file() else path


def _tokenizer(path: Path, what: str):
    from florenz.data.tokenizer import load_tokenizer

    if not path.exists():
        raise FlorenzError(f"{what} tokenizer not found: {path}")
    return load_tokenizer(path)


def check_special_ids(tok, tok_path: Path, config: dict, config_path: Path) -> dict:
    """The tokenizer's bos/eos/pad ids, which must equal those the checkpoint's config declares."""
    ids = special_ids(tok, f"tokenizer {tokenizer_file(tok_path)}")
    for name, value in ids.items():
        declared = config.get(f"{name}_token_id")
        allowed = declared if isinstance(declared, list) else [declared]
        if declared is not None and value not in allowed:
            raise FlorenzError(f"{name} token id mismatch: tokenizer {tokenizer_file(tok_path)} has {value}, "
                               f"config {config_path} has {declared}")
    return ids


def check_vocab(tok, tok_path: Path, rows: int | None, weights: Path, what: str, exact: bool) -> None:
    """A tokenizer larger than its embedding indexes out of range; for the decoder they must be equal
    (every logit a token). The encoder may have spare rows: Florence-2's own processor adds its location
    and task tokens at run time, so a checkpoint's tokenizer.json can be smaller than its embedding."""
    if rows is None:
        raise FlorenzError(f"{weights}: no {what} embedding found")
    n = len(tok)
    if n > rows or (exact and n != rows):
        raise FlorenzError(f"{what} vocabulary mismatch: tokenizer {tokenizer_file(tok_path)} has {n} tokens, "
                           f"the {what} embedding in {weights} has {rows} rows")


def _text_config(florence: CheckpointDir) -> dict:
    return florence.config.get("text_config", florence.config)


def load_pretrained(cfg: ModelConfig, device: str | torch.device = "cpu"):
    """(model, processor) for a real preset from `cfg.florence_path` (+ `cfg.gemma_path`)."""
    from florenz.models.processor import FlorenzProcessor

    preset = get_preset(cfg.preset)
    if preset.decoder_kind == "gemma" and not cfg.gemma_path:
        raise FlorenzError(f"preset {preset.name} needs model.gemma_path (a local Gemma-2 checkpoint)")
    florence = CheckpointDir(cfg.florence_path, "Florence-2")
    if not any(k.startswith("model.vision_tower.") for k in florence.files):
        raise FlorenzError(f"{florence.path} is not a Florence-2 checkpoint: no vision tower weights, neither in "
                           "transformers' layout (florence-community/Florence-2-*) nor in Microsoft's "
                           "(microsoft/Florence-2-*)")
    gemma = CheckpointDir(cfg.gemma_path, "Gemma-2") if preset.decoder_kind == "gemma" else None
    dec_path = Path(cfg.tokenizer_path or cfg.gemma_path)
    if not str(dec_path) or str(dec_path) == ".":
        raise FlorenzError(f"preset {preset.name} needs model.gemma_path or model.tokenizer_path "
                           "(the Gemma-2 tokenizer the decoder vocabulary is remapped to)")
    enc_tok = _tokenizer(florence.path, "Florence-2 (BART)")
    dec_tok = _tokenizer(dec_path, "Gemma-2")
    text = _text_config(florence)
    enc_rows = florence.shape(SHARED) or florence.shape("model.language_model.encoder.embed_tokens.weight")
    check_vocab(enc_tok, florence.path, enc_rows and enc_rows[0], florence.weights_file(SHARED), "encoder",
                exact=False)
    enc_ids = check_special_ids(enc_tok, florence.path, text, florence.path / "config.json")
    if gemma is not None:
        dec_rows = gemma.shape(GEMMA_EMBED)
        check_vocab(dec_tok, dec_path, dec_rows and dec_rows[0], gemma.weights_file(GEMMA_EMBED), "decoder",
                    exact=True)
        dec_ids = check_special_ids(dec_tok, dec_path, gemma.config, gemma.path / "config.json")
    else:
        dec_ids = special_ids(dec_tok, f"tokenizer {tokenizer_file(dec_path)}")
    config = FlorenzConfig.from_preset(preset, len(dec_tok), enc_rows[0], dec_ids, enc_ids, cfg.image_size)
    vision = _pick(florence.config.get("vision_config", {}), preset.vision, "vision")
    config.update({"vision": vision or config.vision, "text": _pick(text, preset.text, "text") or config.text})
    config.decoder = (_pick(gemma.config, preset.gemma, "gemma") or config.decoder) if gemma else dict(config.text)
    model = build_empty(config)
    load_state(model, _florenz_state(florence, gemma, enc_tok, dec_tok), str(florence.path) +
               (f" + {gemma.path}" if gemma else ""), allow_missing=CROSS_PARAM_MARKERS if gemma else (),
               assign=True)
    if gemma is not None:
        _init_new_blocks(model)
    return model.to(device), FlorenzProcessor.for_tokenizers(enc_tok, dec_tok, int(model.config.image_size))


def _florenz_state(florence: CheckpointDir, gemma: CheckpointDir | None, enc_tok, dec_tok) -> dict:
    """Our parameter names -> checkpoint tensors (read one by one; the BART kind's decoder embedding remapped)."""
    state: dict[str, torch.Tensor] = {}
    shared = None
    for key, value in florence.tensors():
        if key == SHARED:
            shared = value
        for src, dst in FLORENCE_PREFIXES.items():
            if key.startswith(src) and not (gemma is not None and dst == "decoder."):
                state[dst + key[len(src):]] = value
    shared = shared if shared is not None else state.get("encoder.embed_tokens.weight")
    if shared is None:
        raise FlorenzError(f"{florence.path}: missing weights: {SHARED} (the BART embedding)")
    state.setdefault("encoder.embed_tokens.weight", shared)
    if gemma is None:
        state["decoder.embed_tokens.weight"] = remap_embedding(shared, dec_tok, enc_tok)
    else:
        for key, value in gemma.tensors():
            if key.startswith("model."):
                state["decoder." + key[len("model."):]] = value
    return state


def _init_new_blocks(model: FlorenzModel) -> None:
    """Materialise the cross-attention blocks (in no checkpoint) with the decoder's own initialisation,
    then g = 0 and norm_x = the post-attention norm."""
    decoder = model.decoder
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None and param.is_meta:
                module._parameters[name] = nn.Parameter(torch.empty_like(param, device="cpu"),
                                                        requires_grad=param.requires_grad)
    for layer in decoder.layers:
        for module in layer.cross_attn.modules():
            decoder._init_weights(module)
    decoder.reset_cross_blocks()

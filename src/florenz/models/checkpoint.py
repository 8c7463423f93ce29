"""Our own checkpoints: `model.safetensors` + `florenz.json` (+ tokenizer files), one call each way.

Tied weights (the LM head is the decoder embedding) are stored once and re-tied on load, so a round
trip is exact. Missing, unexpected or shape-mismatched tensors are an error that names them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from florenz.errors import FlorenzError
from florenz.io import read_json, write_json

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "florenz.json"
TIED = ("lm_head.weight",)
FORMAT_VERSION = 1


def _save_tokenizer(tok, directory: Path) -> None:
    from florenz.data.tokenizer import save_tokenizer

    if hasattr(tok, "save_pretrained") and (getattr(tok, "name_or_path", "") or not hasattr(tok, "backend_tokenizer")):
        tok.save_pretrained(str(directory))
    else:
        save_tokenizer(tok, directory)


def save_model(model, processor, directory: str | Path) -> Path:
    """Write weights, the model description and the tokenizers (one if encoder and decoder share it)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if k not in TIED}
    shared = processor is None or processor.encoder_tokenizer is processor.decoder_tokenizer
    meta = {"format": FORMAT_VERSION, "model": dict(model.config),
            "processor": {"image_size": processor.image_size if processor else model.config["image_size"],
                          "shared_tokenizer": shared}}
    tmp = directory / (WEIGHTS_FILE + ".partial")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(directory / WEIGHTS_FILE)
    if processor is not None:
        if shared:
            _save_tokenizer(processor.decoder_tokenizer, directory)
        else:
            _save_tokenizer(processor.decoder_tokenizer, directory / "decoder_tokenizer")
            _save_tokenizer(processor.encoder_tokenizer, directory / "encoder_tokenizer")
    write_json(directory / CONFIG_FILE, meta)
    return directory


def load_state(model, state: dict[str, torch.Tensor], source: str, allow_missing: tuple[str, ...] = (),
               assign: bool = False) -> None:
    """Strict load that names missing / unexpected / mis-shaped tensors; `allow_missing` are name markers.

    `assign=True` (a model built by `build_empty`): the tensors become the parameters (cast to the model's
    dtype), so loading holds one copy of the weights, not two."""
    expected = {k: v for k, v in model.state_dict().items() if k not in TIED}
    missing = [k for k in expected if k not in state and not any(m in k for m in allow_missing)]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    for what, names in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", wrong)):
        if names:
            more = f" (+{len(names) - 8} more)" if len(names) > 8 else ""
            raise FlorenzError(f"{source}: {len(names)} {what} weights: {', '.join(names[:8])}{more}")
    if assign:
        state = {k: v.to(expected[k].dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=False, assign=assign)
    model.lm_head.weight = model.decoder.embed_tokens.weight


def load_model(directory: str | Path, device: str | torch.device | None = None):
    """(model, processor) from a directory written by save_model."""
    from florenz.data.tokenizer import load_tokenizer
    from florenz.models.build import build_empty
    from florenz.models.processor import Processor

    directory = Path(directory)
    meta = read_json(directory / CONFIG_FILE)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FlorenzError(f"model weights not found: {weights}")
    model = build_empty(meta["model"])
    load_state(model, load_file(str(weights)), str(weights), assign=True)
    model = model.to(device or "cpu").eval()
    proc = meta.get("processor", {})
    if proc.get("shared_tokenizer", True):
        dec = enc = load_tokenizer(directory)
    else:
        dec, enc = load_tokenizer(directory / "decoder_tokenizer"), load_tokenizer(directory / "encoder_tokenizer")
    return model, Processor(enc, dec, int(proc.get("image_size", meta["model"]["image_size"])))

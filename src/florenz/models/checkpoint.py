"""Model directories: transformers' own layout, so `from_pretrained` and the Auto classes read them.

`save_model` writes `config.json` (FlorenzConfig) + `generation_config.json` + `model.safetensors` (via
`save_pretrained`; the tied LM head is stored once) + the FlorenzProcessor (`processor_config.json` with the
image processor, the decoder tokenizer's files, `encoder_tokenizer/`), so `AutoModel...` and `AutoProcessor`
load it. Directories from before the ProcessorMixin (tokenizer files + `florenz_processor.json`) still load.
`load_model` reads such a directory, or an old one (`florenz.json` + `model.safetensors`, before issue 16) which
`florenz models convert OLD NEW` rewrites in the new layout. Missing, unexpected or shape-mismatched tensors
are an error that names them.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from florenz.errors import FlorenzError
from florenz.io import read_json

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
OLD_CONFIG_FILE = "florenz.json"  # the layout before issue 16 (read, converted, never written)
PROCESSOR_FILE = "florenz_processor.json"  # image size + shared tokenizer flag before the ProcessorMixin (read only)
PROCESSOR_CONFIG_FILE = "processor_config.json"  # FlorenzProcessor.save_pretrained
TIED = ("lm_head.weight",)


def is_model_dir(directory: Path) -> bool:
    """A florenz model directory, new layout or old."""
    return (directory / OLD_CONFIG_FILE).is_file() or (
        (directory / CONFIG_FILE).is_file() and read_json(directory / CONFIG_FILE).get("model_type") == "florenz")


def save_model(model, processor, directory: str | Path) -> Path:
    """Write the model with `save_pretrained` and the processor with its own `save_pretrained`
    (processor_config.json + the decoder tokenizer at the top + encoder_tokenizer/)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    if processor is not None:
        processor.save_pretrained(str(directory))
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


def _config_and_processor_meta(directory: Path):
    from florenz.models.florenz import FlorenzConfig

    if (directory / CONFIG_FILE).is_file():
        config = FlorenzConfig.from_pretrained(str(directory))
        meta = read_json(directory / PROCESSOR_FILE) if (directory / PROCESSOR_FILE).is_file() else {}
        return config, meta
    if (directory / OLD_CONFIG_FILE).is_file():
        old = read_json(directory / OLD_CONFIG_FILE)
        return FlorenzConfig(**old["model"]), old.get("processor", {})
    raise FlorenzError(f"no florenz model in {directory} (expected {CONFIG_FILE} or {OLD_CONFIG_FILE})")


def load_processor(directory: str | Path):
    """The FlorenzProcessor of a model directory: `from_pretrained` when it has processor_config.json, else
    rebuilt from an older layout (tokenizer.json, or decoder_tokenizer/ + encoder_tokenizer/, and the image
    size in florenz_processor.json or florenz.json)."""
    from florenz.models.processor import FlorenzProcessor

    directory = Path(directory)
    if (directory / PROCESSOR_CONFIG_FILE).is_file():
        return FlorenzProcessor.from_pretrained(str(directory), local_files_only=True)
    from florenz.data.tokenizer import load_tokenizer

    config, meta = _config_and_processor_meta(directory)
    if meta.get("shared_tokenizer", True):
        dec = enc = load_tokenizer(directory)
    else:
        dec, enc = load_tokenizer(directory / "decoder_tokenizer"), load_tokenizer(directory / "encoder_tokenizer")
    return FlorenzProcessor.for_tokenizers(enc, dec, int(meta.get("image_size", config.image_size)))


def load_model(directory: str | Path, device: str | torch.device | None = None):
    """(model, processor) from a directory written by save_model (or an older-layout one)."""
    from florenz.models.instantiate import build_empty

    directory = Path(directory)
    config, _ = _config_and_processor_meta(directory)
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise FlorenzError(f"model weights not found: {weights}")
    model = build_empty(config)
    load_state(model, load_file(str(weights)), str(weights), assign=True)
    return model.to(device or "cpu").eval(), load_processor(directory)


def convert(old: str | Path, new: str | Path) -> Path:
    """Rewrite an old-layout model directory (florenz.json, or config.json without a processor_config.json) in
    the new one (model and processor with their
    `save_pretrained`); `old` is left as it is."""
    old, new = Path(old), Path(new)
    if not is_model_dir(old) or (old / PROCESSOR_CONFIG_FILE).is_file():
        raise FlorenzError(f"{old} is not an old-layout florenz model (no {OLD_CONFIG_FILE}, or config.json "
                           f"without {PROCESSOR_CONFIG_FILE})")
    if new.exists() and any(new.iterdir()):
        raise FlorenzError(f"convert: {new} exists and is not empty")
    model, processor = load_model(old)
    return save_model(model, processor, new)

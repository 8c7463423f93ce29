"""Instantiating a FlorenzModel from a config: random init, or parameters on "meta" to be filled by a loader.

Its own module so that build.py, pretrained.py and checkpoint.py all import it one way (no cycle between them).
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from florenz.errors import FlorenzError
from florenz.models.florenz import FlorenzModel, as_config


def special_ids(tokenizer, source: str = "tokenizer") -> dict:
    """{"bos", "eos", "pad"} of a transformers tokenizer; a missing one is an error naming it."""
    ids = {k: getattr(tokenizer, f"{k}_token_id", None) for k in ("bos", "eos", "pad")}
    missing = [k for k, v in ids.items() if v is None]
    if missing:
        raise FlorenzError(f"{source} has no {', '.join(missing)} token (needed by the model)")
    return ids


@contextlib.contextmanager
def parameters_on_meta():
    """Parameters are born on "meta" (no memory, no init cost) while buffers stay real.

    Why not `torch.device("meta")`: the non-persistent buffers (rotary frequencies, Gemma's embedding scale)
    are computed in `__init__` and are in no checkpoint, so they must be computed for real.
    """
    register = nn.Module.register_parameter

    def on_meta(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        register(module, name, param)
        if param is not None and param.device.type != "meta":
            module._parameters[name] = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)

    nn.Module.register_parameter = on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def build_from_config(config: dict, device: str | torch.device = "cpu") -> FlorenzModel:
    """Instantiate a model for a config dict; on "meta" nothing is allocated."""
    with torch.device(device):
        model = FlorenzModel(as_config(config))
    return model


def build_empty(config: dict) -> FlorenzModel:
    """A model whose parameters are on "meta" (buffers real), to be filled with `load_state(..., assign=True)`."""
    with parameters_on_meta():
        model = FlorenzModel(as_config(config))
    return model

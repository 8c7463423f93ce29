"""How a built model runs (not what it computes): the attention kernel and activation checkpointing.

Both are transformers' own mechanisms, switched on the model's sub-models (vision tower, BART encoder,
decoder): `config._attn_implementation` is read by every attention layer at call time, and
`activation_checkpointing_enable` makes each `GradientCheckpointingLayer` (every encoder and decoder layer,
our Gemma cross layers included) recompute its activations in the backward pass. Neither changes a weight.

Gemma-2 soft-caps its attention logits (`attn_logit_softcapping`, 50); `sdpa` silently drops the cap, so a
soft-capped decoder refuses it. `auto` keeps transformers' choice (sdpa for vision and BART; Gemma-2 gets eager
from transformers 5.24, sdpa before, so `keep_softcap` makes a soft-capped decoder eager in every release).
"""

from __future__ import annotations

from torch import nn

from florenz.errors import FlorenzError
from florenz.models.config import ATTN_IMPLEMENTATIONS, SOFTCAP_IMPLEMENTATIONS, softcap_conflict


def attention_parts(model: nn.Module) -> dict[str, object]:
    """{part: its transformers config} for the vision tower, the encoder and the decoder."""
    return {"vision": model.vision_tower.config, "encoder": model.encoder.config, "decoder": model.decoder_config}


def set_attn_implementation(model: nn.Module, impl: str) -> None:
    """Use attention kernel `impl` everywhere (`auto`: leave transformers' per-part choice)."""
    if impl not in ATTN_IMPLEMENTATIONS:
        raise FlorenzError(f"model.attn_implementation must be one of {', '.join(ATTN_IMPLEMENTATIONS)}, got {impl!r}")
    if impl == "auto":
        return
    problem = softcap_conflict(impl, getattr(model.decoder_config, "attn_logit_softcapping", None))
    if problem:
        raise FlorenzError(problem)
    for config in attention_parts(model).values():
        config._attn_implementation = impl  # noqa: SLF001  (transformers' switch, read at call time)


def keep_softcap(model: nn.Module) -> None:
    """A soft-capped decoder on a kernel that drops the cap (transformers' default before 5.24) goes eager."""
    config = model.decoder_config
    if getattr(config, "attn_logit_softcapping", None) and config._attn_implementation not in SOFTCAP_IMPLEMENTATIONS:
        config._attn_implementation = "eager"  # noqa: SLF001


def enable_activation_checkpointing(model: nn.Module) -> None:
    """Recompute every encoder and decoder layer in the backward pass (non-reentrant checkpoints, which
    compose with FSDP2: its hooks stay outside the checkpoint). The DaViT vision tower keeps its activations."""
    for part in (model.encoder, model.decoder):
        part.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})

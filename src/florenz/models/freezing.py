"""Freezing policies by name, and the parameter counts P (all) and Pt (trainable) used in C = S*F*(1+Pt/P).

- default: vision tower + projection frozen; encoder trained; a BART (Florence) decoder fully trained; a
  Gemma decoder frozen except the new cross-attention blocks (attention, gate g, norm_x), embeddings, LM head.
- train-vision: like default, but the vision tower and projection are trained too. For micro models, whose
  vision tower is random-init rather than pre-trained like Florence-2's: frozen, it would stay random.
- frozen-embeddings: like default, but the decoder's token embeddings and LM head stay frozen too (a Gemma
  decoder then trains only its cross-attention blocks). For micro models: their decoder ties input and output
  embeddings over one small vocabulary shared by all languages, so training them on en/de captions rewrites
  what the frozen decoder emits in the translation-only languages (benchmarks/RESULTS.md, issue 15).
- none: everything trainable.
- decoder-lm: only the decoder's own language-model weights (no cross-attention, no vision, no encoder):
  the micro decoder pre-training stage.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from florenz.errors import FlorenzError
from florenz.models.cross_attention import CROSS_PARAM_MARKERS

BART_CROSS_MARKERS = ("encoder_attn.", "encoder_attn_layer_norm.")


def _is_cross(name: str) -> bool:
    return any(m in name for m in CROSS_PARAM_MARKERS + BART_CROSS_MARKERS)


def _default(name: str, kind: str) -> bool:
    if name.startswith(("vision_tower.", "projector.")):
        return False
    if name.startswith("encoder.") or kind == "bart":
        return True
    return _is_cross(name) or name.startswith(("decoder.embed_tokens.", "lm_head."))


def _frozen_embeddings(name: str, kind: str) -> bool:
    return _default(name, kind) and not name.startswith(("decoder.embed_tokens.", "lm_head."))


def _decoder_lm(name: str, kind: str) -> bool:
    return name.startswith(("decoder.", "lm_head.")) and not _is_cross(name)


POLICIES: dict[str, Callable[[str, str], bool]] = {
    "default": _default,
    "train-vision": lambda name, kind: name.startswith(("vision_tower.", "projector.")) or _default(name, kind),
    "frozen-embeddings": _frozen_embeddings,
    "none": lambda name, kind: True,
    "decoder-lm": _decoder_lm,
}


def apply_freezing(model: nn.Module, policy: str = "default") -> nn.Module:
    """Set requires_grad per parameter by the named policy; returns the model."""
    if policy not in POLICIES:
        raise FlorenzError(f"unknown freezing policy {policy!r}; known: {', '.join(POLICIES)}")
    rule, kind = POLICIES[policy], model.config.decoder_kind
    for name, p in model.named_parameters():
        p.requires_grad_(rule(name, kind))
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(P, Pt): all parameters and trainable ones, tied weights counted once (works on the meta device)."""
    seen: set[int] = set()
    total = trainable = 0
    for p in model.parameters():  # parameters() already yields a tied tensor once
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return total, trainable
